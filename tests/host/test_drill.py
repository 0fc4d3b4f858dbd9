"""The drill, short: the seed's outage replayed on the lab with Holdfast, against the goals
(issues 9 and 23: the loop fired, visitors and members served, latency, Monit, the alert).
One run for the whole module; each goal is its own test."""

import pytest

from bench.drill import figures as drill_figures
from bench.drill import scenario
from lab.topology import LAB

pytestmark = pytest.mark.disruptive


@pytest.fixture(scope="module")
def drill(targets) -> drill_figures.Figures:
    web = targets[LAB.group("web")[0].name]
    result = drill_figures.figures(scenario.run("with Holdfast", LAB, web.settings, True, scenario.SHORT))
    print("\n" + "\n".join(f"{key}: {value}" for key, value in result.as_dict().items()))
    return result


@pytest.mark.parametrize("goal", drill_figures.GOALS)
def test_goal(drill, goal):
    value, met = drill_figures.goals(drill)[goal]
    text, _ = drill_figures.GOALS[goal]
    assert met, f"{text}: measured {value}"


def test_the_attacker_was_held_off(drill):
    assert drill.attacker_429 > drill.attacker_sent / 2
