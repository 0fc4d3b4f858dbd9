"""The lab: throwaway Debian hosts on this machine, brought up by `make lab` (see lab/)."""

from lab.topology import LAB

web = LAB.inventory_group("web")
monitors = LAB.inventory_group("monitors")
