"""`fastvrrp lab`: the master/backup experiment of EXPERIMENT.md, replayed in namespaces.

Two routers and a client on one bridge, every event (daemon log line, VIP change, packet on
the wire, lost ping) stamped on one clock, so a takeover can be read in milliseconds instead of
lined up from two syslogs whose clocks disagree.
"""
