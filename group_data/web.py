"""Data for the web hosts: the site, the services behind it, the slices they run in, and
the edge in front of them."""

# The services Holdfast protects (installed by other means; in the lab, by lab/deploy.py).
services = {
    "php-fpm": {
        "unit": "php8.2-fpm.service",
        "slice": "web",
        # Monit restarts it when it dies, stops answering, or runs away; a restart loop
        # escalates to tier 2. PHP workers are children of the master: the CPU and memory
        # rules count the whole process tree, and stay below what slice "web" allows it.
        # A looping request is PHP-FPM's to kill (request_terminate_timeout, below): a
        # restart would drop every request in flight. Monit's CPU rule is the backstop for
        # what no request timeout ends: the tree at 40 % of the host's CPUs (the slice's
        # CPUQuota of 100% reads 50 % on two) for three cycles, longer than the timeout.
        "supervision": {
            "pidfile": "/run/php/php8.2-fpm.pid",
            "start_timeout": "10s",
            "cpu_percent": 40,
            "cpu_cycles": 3,
            "cpu_window": 3,
            "memory_limit": "384M",
            "restart_limit": 3,
            "restart_window": 5,
        },
        # Holdfast writes its pool (holdfast/php_fpm.py): a request running longer than
        # nginx waits for it is killed by PHP-FPM (that worker only), its PHP stack in the
        # slow log from 5 s on; pm.max_children is the service's memory (384M: Monit's
        # memory_limit, below the slice's MemoryMax) over 64M per worker.
        "php_fpm": {
            "request_terminate_timeout": "10s",
            "request_slowlog_timeout": "5s",
            "worker_memory": "64M",
        },
    },
    # The site's database. Monit restarts it when it dies or stops answering its own
    # protocol on the socket; the monitor host scrapes its exporter.
    "mariadb": {
        "unit": "mariadb.service",
        "slice": "database",
        "supervision": {
            "pidfile": "/run/mysqld/mysqld.pid",
            "start_timeout": "60s",  # InnoDB's recovery after a crash takes its time
            "probe": {"address": "unix:/run/mysqld/mysqld.sock", "protocol": "mysql"},
            "restart_limit": 3,
            "restart_window": 5,
        },
        "exporter": "mysqld",
    },
}

sites = {
    "shop": {
        "server_names": ["shop.example.com", "www.shop.example.com"],
        "public_url": "https://shop.example.com/",
        # WordPress (Debian's package: in the lab, lab/wordpress.py).
        "root": "/usr/share/wordpress",
        # The shop's pages render in well under a second: ten seconds of silence is a loop or a hang.
        "backend": {
            "kind": "fastcgi",
            "address": "unix:/run/php/php8.2-fpm.sock",
            "service": "php-fpm",
            "read_timeout": "10s",
        },
        "health_path": "/health",
        "health_expect": "OK",
        "content_path": "/",
        "content_expect": "Welcome to the shop",
        # Pages are cached for 10 s (a visitor never waits for PHP for a page someone just
        # saw) and served stale while PHP fails or restarts. WordPress's log-in, commenter
        # and password-protected-post cookies make a page the visitor's own: it always comes
        # from PHP. Tracking arguments (utm_*, fbclid, ...: the default) stay out of the
        # cache key. Monit watches PHP itself through the health path, which is never cached.
        "stale_cache": {
            "valid": "10s",
            "keep": "1d",
            "private_cookies": ["wordpress_logged_in_", "wordpress_sec_", "comment_author_", "wp-postpass_"],
        },
        # Per client address (defaults: docs/settings.md). The surge that brought the seed's
        # site down came in through search (/?s=...): it is in the strict class with the
        # log-in, XML-RPC and the administration.
        # A page not in the cache costs WordPress about 80 ms of PHP on a quiet host, 150 ms in
        # a surge (bench.wordpress_capacity: 12-14 uncached pages/s on the lab's web host; the
        # drill's members): one address may ask for a sixth of that, still more than a reader
        # clicks (static files are never limited), so that PHP has room for everyone else even
        # while a loop holds one of its workers (4r/s let one address take three quarters).
        # A crowd is many addresses, each under those limits: searches and log-ins from all of
        # them together get 3 a second, 2 at a time, of PHP's 6 workers (384M / 64M, below);
        # the rest get the busy page at once, and pages and members keep 4 workers even while
        # the loop bug holds both.
        "limits": {
            "default": {"rate": "2r/s", "burst": 10, "delay": 5},
            "strict_paths": ["/wp-login.php", "/xmlrpc.php", "/wp-admin"],
            "strict_args": ["s"],
            "strict_budget": {"rate": "3r/s", "burst": 3, "in_flight": 2},
            # WordPress's scheduled tasks: run from the host itself (cron, loopback), never by the world.
            "allow_listed_paths": ["/wp-cron.php"],
        },
        # HTTPS with a certificate from Let's Encrypt (account below), renewed by certbot;
        # browsers remember for a year to come back over HTTPS only.
        "tls": {"mode": "acme", "hsts": "365d"},
    },
}

# The ACME account of the sites' certificates: Let's Encrypt mails expiry notices here.
acme = {
    "email": "webmaster@example.com",
}

# What each part of the host may take (holdfast/slices.py), in systemd's own terms. The
# critical units (sshd, Monit, nginx: see `critical` in docs/settings.md) run in "critical".
slices = {
    "critical": {
        "description": "what must answer while the site burns: sshd, Monit, nginx",
        "CPUWeight": 1000,  # ten times the default: first served when CPU is short
        "IOWeight": 1000,
        "MemoryLow": "256M",  # reserved for them
    },
    "web": {
        "description": "the site's application",
        "CPUQuota": "100%",  # one CPU of the host, however hard a bug makes it loop
        "MemoryHigh": "448M",
        "MemoryMax": "512M",  # a leak is OOM-killed here, not elsewhere
        "TasksMax": 256,  # a fork storm stops here
    },
    "database": {
        "description": "the site's database",
        "CPUQuota": "100%",  # however hard a query loops, the other CPU stays for nginx and sshd
        "MemoryHigh": "640M",
        "MemoryMax": "768M",  # InnoDB's buffer pool (128M by default), connections and caches
        "TasksMax": 512,  # a thread per connection
    },
    "batch": {
        "description": "cron jobs, backups, imports: whatever can wait",
        "CPUWeight": 20,
        "CPUQuota": "25%",
        "IOWeight": 20,
        "MemoryMax": "256M",
    },
}

# nginx in front of the sites. Loopback and the monitors hosts of the inventory are never
# limited; add the office's addresses, so a busy office behind one address is not either.
# An address a limit refuses 60 times in a minute is banned at the firewall for 10 minutes,
# each next time twice as long, a day at most (the defaults: docs/settings.md).
edge = {
    "allow": ["203.0.113.0/29"],
}
