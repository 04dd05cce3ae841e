"""GPUs: the inventory (NVML or a fake test device), slot requests and pinning, telemetry, out-of-memory help."""
