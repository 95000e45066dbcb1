"""Telemetry while cells run: the server's Prometheus /metrics and the hardware (NVML, amdsmi, the
server's processes), sampled about once a second, saved per second and summarised per cell."""
