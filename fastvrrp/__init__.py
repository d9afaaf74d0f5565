"""fastvrrp: a VRRP (RFC 3768, RFC 5798, RFC 9568) failover daemon that reads keepalived.conf."""

__version__ = "0.1.0"
