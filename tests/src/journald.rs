//! A private systemd-journald in its own namespace, for journal tests (skeleton).
