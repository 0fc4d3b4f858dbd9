"""What a deploy reads of a host while it plans, read in one command.

pyinfra plans one host after another, and runs each fact read then as its own SSH command:
some twenty round trips per web host before anything runs, every deploy. Each capability
says here what it reads to plan (its ``reads(host_settings)``); deploy.py reads all of it
first with ``read_together``, in one command (``facts.Batch``), and the capabilities get
their answers from ``fact``. A fact not read together is read alone, as pyinfra would.
Planning changes nothing, so nothing read then goes stale before the plan is made.
"""

from collections.abc import Callable, Iterable
from weakref import WeakKeyDictionary

from pyinfra import host
from pyinfra.api import FactBase, Host

from holdfast import loading
from holdfast.facts import Batch, query_key
from holdfast.inventory import current_host
from holdfast.settings import HostSettings

Query = tuple[type[FactBase], dict]

# By pyinfra's host object: one deploy's hosts (a process may plan more than one deploy).
_READ: WeakKeyDictionary[Host, dict] = WeakKeyDictionary()


def read_together(*readers: Callable[[HostSettings], Iterable[Query]]) -> None:
    """Read on the current host, in one command, every query that ``readers`` (the
    capabilities' ``reads``) give for its settings."""
    queries = list({query_key(*query): query for reader in readers for query in reader(loading.current())}.values())
    values = host.get_fact(Batch, queries=queries) if queries else []
    _READ[current_host()] = {query_key(*query): value for query, value in zip(queries, values,
                                                                                                    strict=True)}


def fact(query: Query):
    """``host.get_fact`` of ``query`` (a fact and its arguments), answered by what
    ``read_together`` read, if it read it."""
    read = _READ.get(current_host(), {})
    key = query_key(*query)
    return read[key] if key in read else host.get_fact(query[0], **query[1])
