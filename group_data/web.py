"""Data for the web hosts: the site, the services behind it, and the edge in front of it."""

# The services Holdfast protects (installed by other means; in the lab, by lab/deploy.py).
services = {
    "php-fpm": {"unit": "php8.2-fpm.service"},
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
        # Per client address (defaults: docs/settings.md). The surge that brought the seed's
        # site down came in through search: it is in the strict class with the log-in.
        "limits": {
            "strict_paths": ["/login", "/search", "/xmlrpc.php"],
        },
    },
}

# nginx in front of the sites. Loopback and the monitors hosts of the inventory are never
# limited; add the office's addresses, so a busy office behind one address is not either.
edge = {
    "allow": ["203.0.113.0/29"],
}
