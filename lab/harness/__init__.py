"""What the host tests and the benches share to drive the lab from this machine: running
deploys and reading their results, probes taken on a host, the stand-in's faults, and
HTTP traffic from the lab's client addresses."""
