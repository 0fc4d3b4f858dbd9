"""Data for the web hosts: the site, and the services behind it."""

# The services Holdfast protects (installed by other means; in the lab, by lab/deploy.py).
services = {
    "php-fpm": {"unit": "php8.2-fpm.service"},
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
