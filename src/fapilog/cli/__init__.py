"""The ``fapilog`` command's subcommands, one module each (see ``docs/cli.md``).

* ``_config.py``: ``fapilog config``, the effective settings and where each came from;
* ``_doctor.py``: ``fapilog doctor``, checks of the installation and every exporter;
* ``_plugins.py``: ``fapilog plugins list|check|new`` (templates of ``new`` in ``_scaffold/``);
* ``_spool.py``: ``fapilog spool inspect|drain``, a look into a durable spool directory
  and the delivery of one left behind;
* ``_app.py``: ``--app module[:attr]``, the configuration an application sets in code.

The entry point is :func:`fapilog.__main__.main`.
"""
