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
        # Monit's total cpu is a share of all the host's CPUs: one worker looping at the
        # slice's CPUQuota of 100% reads 50% on two CPUs, while the traffic the edge lets
        # through reads about 10%. One cycle over 30% is a runaway: restarted at once.
        "supervision": {
            "pidfile": "/run/php/php8.2-fpm.pid",
            "start_timeout": "10s",
            "cpu_percent": 30,
            "cpu_cycles": 1,
            "cpu_window": 1,
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
}

sites = {
    "shop": {
        "server_names": ["shop.example.com", "www.shop.example.com"],
        "public_url": "https://shop.example.com/",
        "root": "/srv/www/shop",
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
        # saw) and served stale while PHP fails or restarts; visitors with a cookie always
        # reach PHP. Monit watches PHP itself through the health path, which is never cached.
        "stale_cache": {"valid": "10s", "keep": "1d"},
        # Per client address (defaults: docs/settings.md). The surge that brought the seed's
        # site down came in through search: it is in the strict class with the log-in.
        "limits": {
            "strict_paths": ["/login", "/search", "/xmlrpc.php"],
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
edge = {
    "allow": ["203.0.113.0/29"],
}
