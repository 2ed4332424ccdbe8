"""The installable, offline-first app shell: manifest, service worker, offline page."""
