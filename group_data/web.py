"""Data for the web hosts: the site, and the services behind it."""

# The services Holdfast protects (installed by other means; in the lab, by lab/deploy.py).
services = {
    "php-fpm": {
        "unit": "php8.2-fpm.service",
        # Monit restarts it when it dies, stops answering, or runs away; a restart loop
        # escalates to tier 2. PHP workers are children of the master: the CPU and memory
        # rules count the whole process tree.
        "supervision": {
            "pidfile": "/run/php/php8.2-fpm.pid",
            "start_timeout": "10s",
            "cpu_percent": 30,
            "cpu_cycles": 3,
            "cpu_window": 5,
            "memory_limit": "768M",
            "restart_limit": 3,
            "restart_window": 5,
        },
    },
}

sites = {
    "shop": {
        "server_names": ["shop.example.com", "www.shop.example.com"],
        "public_url": "https://shop.example.com/",
        "root": "/srv/www/shop",
        "backend": {"kind": "fastcgi", "address": "unix:/run/php/php8.2-fpm.sock", "service": "php-fpm"},
        "health_path": "/health",
        "health_expect": "OK",
        "content_path": "/",
        "content_expect": "Welcome to the shop",
    },
}
