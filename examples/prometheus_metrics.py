"""fapilog's self-metrics scraped by Prometheus, through the OpenTelemetry Prometheus reader.

Run it with ``python examples/prometheus_metrics.py`` inside the project's environment
(it needs ``opentelemetry-exporter-prometheus``, which brings ``prometheus-client``). It

1. makes a meter provider with the OTel ``PrometheusMetricReader`` the global one, the
   way an application does once at start-up;
2. serves ``/metrics`` on 127.0.0.1 (port 9464 by default, ``--port 0`` picks a free
   one) with ``prometheus_client.start_http_server``;
3. configures fapilog and logs 100 events (to the console on stderr), one exporter
   that works;
4. scrapes ``/metrics`` over HTTP, like Prometheus would, and prints fapilog's series
   next to ``fapilog.stats()``.

No code ties fapilog to the meter provider: fapilog reports to the global one.
"""

from __future__ import annotations

import argparse
import urllib.request

from opentelemetry import metrics
from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.sdk.metrics import MeterProvider
from prometheus_client import start_http_server

import fapilog


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=9464, help="port of /metrics (0: any)")
    port = parser.parse_args().port

    # 1. the application's meter provider, made global (once, at start-up)
    metrics.set_meter_provider(MeterProvider(metric_readers=[PrometheusMetricReader()]))
    # 2. /metrics on loopback only
    server, thread = start_http_server(port, addr="127.0.0.1")
    url = f"http://127.0.0.1:{server.server_port}/metrics"

    # 3. fapilog as usual: its metrics go to the global meter provider
    fapilog.configure(service_name="shop", exporters=["console"], console_format="json")
    log = fapilog.get_logger("shop.checkout")
    for order_id in range(100):
        log.info("order placed", order_id=order_id)
    fapilog.flush(5)

    # 4. what Prometheus would scrape
    with urllib.request.urlopen(url, timeout=5) as response:
        scrape = response.read().decode()
    print(f"# GET {url} (fapilog series only)")
    for line in scrape.splitlines():
        if line.startswith("fapilog_") and "_bucket{" not in line:
            print(line)
    stats = fapilog.stats()
    print(
        f"# fapilog.stats(): emitted={stats.emitted} exported={stats.exported} "
        f"dropped={dict(stats.dropped)} in_flight={stats.in_flight}"
    )

    fapilog.shutdown()
    server.shutdown()
    server.server_close()
    thread.join(5)


if __name__ == "__main__":
    main()
