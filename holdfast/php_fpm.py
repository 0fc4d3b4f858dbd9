"""PHP-FPM's pool is Holdfast's: a looping request is killed by PHP-FPM, not the service by Monit.

Each service of group_data with a ``php_fpm`` section gets one pool,
``/etc/php/<X.Y>/fpm/pool.d/<service>.conf``, listening where its FastCGI sites send their
requests: a request timeout no longer than nginx's read timeout (PHP-FPM kills that one
worker; the master and the other requests carry on), a slow log with the PHP stack of a
long request (root and adm may read it), pm.max_children from the memory the service may
take and a per-worker figure (checked against the host at prepare time), pm.max_requests
and the listen backlog. ``php-fpm<X.Y> -t`` checks the pools before they go live, and
PHP-FPM reloads (same master) on a change. Holdfast owns pool.d: a pool it did not write
(Debian's ``www``) is removed in the same validated swap, with a warning naming it.
"""


from pyinfra import host, logger
from pyinfra.api import deploy

from holdfast import in_place, loading, planning, slices
from holdfast.facts import ManagedFiles, MatchingFiles, UnchangedConffiles
from holdfast.safe_config import ConfigFile, validated_config
from holdfast.settings import PHP_FPM_UNIT, HostSettings, Problem, Service
from holdfast.templates import render

PACKAGES = ()  # PHP-FPM is the site's, installed by other means (in the lab, lab/site.py)
MiB = slices.MiB


def version(service: Service) -> str:
    """The PHP version of the service's unit, e.g. '8.2' for php8.2-fpm.service."""
    return PHP_FPM_UNIT.fullmatch(service.unit)[1]


def pool_dir(php_version: str) -> str:
    return f"/etc/php/{php_version}/fpm/pool.d"


def slowlog(service_name: str, service: Service) -> str:
    """Where the pool of ``service_name`` writes the PHP stack of its slow requests."""
    return f"/var/log/php{version(service)}-fpm/{service_name}.slow.log"


def error_log(service: Service) -> str:
    """PHP-FPM's own log (Debian's), where it says which request it killed and why."""
    return f"/var/log/php{version(service)}-fpm.log"


def pools(host_settings: HostSettings) -> dict[str, Service]:
    """The services whose pool Holdfast writes, by name."""
    return {name: service for name, service in host_settings.services.items() if service.php_fpm}


def memory_budget(service: Service, host_settings: HostSettings, host_memory: int) -> int:
    """Bytes the service's workers may take together: the lower of its slice's MemoryMax and
    Monit's memory_limit (beyond them it is OOM-killed or restarted), else the host's memory."""
    slice = host_settings.slices.get(service.slice) if service.slice else None
    limits = [
        slice and slice.MemoryMax and slices.memory_bytes(slice.MemoryMax, host_memory),
        service.supervision.memory_limit,
        host_memory,
    ]
    return min(limit for limit in limits if limit)


def max_children(service: Service, host_settings: HostSettings, host_memory: int) -> int:
    """pm.max_children: as many workers as the service's memory holds at worker_memory each."""
    return memory_budget(service, host_settings, host_memory) // service.php_fpm.worker_memory


def pool_problems(host_settings: HostSettings, host_memory: int) -> list[Problem]:
    """Pools the host's memory cannot hold one worker of, as (key path, value, message) triples."""
    problems = []
    for name, service in pools(host_settings).items():
        budget = memory_budget(service, host_settings, host_memory)
        if max_children(service, host_settings, host_memory) < 1:
            problems.append((("services", name, "php_fpm", "worker_memory"), service.php_fpm.worker_memory,
                             f"expected at most the service's memory on this host ({budget // MiB} MiB: slice "
                             f"{service.slice}'s MemoryMax, supervision.memory_limit, the host's "
                             f"{host_memory // MiB} MiB): not one worker fits"))
    return problems


def _listen(host_settings: HostSettings, name: str) -> str:
    """The address the service's FastCGI sites send to, as PHP-FPM's ``listen`` takes it."""
    address = next(site.backend.address for site in host_settings.sites.values() if site.backend.service == name)
    return address.removeprefix("unix:")


def config_files(host_settings: HostSettings, host_memory: int) -> dict[str, list[ConfigFile]]:
    """The pool files of each PHP version on the host, by version.

    + host_memory: the host's memory in bytes (for percentages and pm.max_children)
    """
    by_version: dict[str, list[ConfigFile]] = {}
    for name, service in pools(host_settings).items():
        children = max_children(service, host_settings, host_memory)
        spare = max(1, children // 4)
        by_version.setdefault(version(service), []).append(ConfigFile(
            f"{pool_dir(version(service))}/{name}.conf",
            render(
                "php_fpm/etc/php/VERSION/fpm/pool.d/POOL.conf.j2",
                name=name, pool=service.php_fpm, listen=_listen(host_settings, name), slowlog=slowlog(name, service),
                max_children=children, spare=(spare, max(spare, children // 2)),
            ),
        ))
    return by_version


# What a replaced default pool is, and how to get it back.
DEBIAN_POOL_NOTE = ("Debian's default pool, unchanged (apt-get install --reinstall "
                    "-o Dpkg::Options::=--force-confmiss php<X.Y>-fpm puts it back)")


def foreign_pools(ours: set[str], found: list[str], managed: list[str], stock: list[str]) -> tuple[list, list]:
    """(replaced, kept): of the pools on the host that are not ``ours``, those Holdfast may
    remove (its own from an earlier deploy, ``managed``, and the package's default as the
    package shipped it, ``stock``: it listens where Holdfast's pool does) and those it keeps
    (anyone else's: never dropped, checked by php-fpm -t together with Holdfast's)."""
    others = [path for path in found if path not in ours]
    replaced = [path for path in others if path in managed or path in stock]
    return replaced, [path for path in others if path not in replaced]


def reads(host_settings: HostSettings) -> list[planning.Query]:
    """What the pools read to plan (planning.read_together): the host's memory, and the
    pools found in each PHP version's pool directory."""
    if not pools(host_settings):
        return []
    return [slices.MEMORY, *(query for php_version in {version(service) for service in pools(host_settings).values()}
                             for query in _found_pools(php_version))]


def _found_pools(php_version: str) -> list[planning.Query]:
    """The pools of a PHP version as Debian shipped them, all of them, and Holdfast's."""
    pattern = f"{pool_dir(php_version)}/*.conf"
    return [(UnchangedConffiles, {"package": f"php{php_version}-fpm"}), (MatchingFiles, {"patterns": [pattern]}),
            (ManagedFiles, {"patterns": [pattern]})]


def host_memory() -> int:
    """The host's memory in bytes (a fact); the deploy stops when it cannot be read."""
    memory = planning.fact(slices.MEMORY)
    if not memory:
        raise loading.SettingsError(f"{host.name}: cannot read the host's memory (vmstat)")
    return memory * MiB


@deploy("PHP-FPM pools")
def deploy_php_fpm() -> None:
    """Write the pool of every PHP-FPM service (checked by php-fpm -t, then a reload), in
    place of Debian's default pool; keep any other pool. Nothing changes unless the pools fit
    the host."""
    host_settings = loading.current()
    if not pools(host_settings):
        return
    memory = host_memory()
    problems = pool_problems(host_settings, memory)
    if problems:
        raise loading.refuse(*problems)
    for name, service in pools(host_settings).items():
        path = slowlog(name, service)
        in_place.directory(f"Slow log directory of {name}", path.rsplit("/", 1)[0], "750", user="root", group="adm")
        in_place.file(f"Slow log of {name} (root and adm)", path, mode="640", user="root", group="adm")
    units = {version(service): service.unit for service in pools(host_settings).values()}
    for php_version, pool_files in config_files(host_settings, memory).items():
        stock, found, managed = map(planning.fact, _found_pools(php_version))
        replaced, kept = foreign_pools(ours={file.path for file in pool_files}, found=found, managed=managed,
                                       stock=stock)
        for path in set(replaced) & set(stock):
            logger.warning(f"{host.name}: {path} is {DEBIAN_POOL_NOTE}: replaced by Holdfast's pools")
        for path in kept:
            logger.info(f"{host.name}: {path} is a pool Holdfast did not write: kept, checked with Holdfast's")
        validated_config(
            name=f"PHP {php_version} FPM pools",
            config=f"php{php_version}-fpm",
            files=pool_files,
            validate=f"php-fpm{php_version} -t",
            reload=f"systemctl reload {units[php_version]}",
            owned=replaced,
        )
        in_place.service(f"{units[php_version]} running", units[php_version])
