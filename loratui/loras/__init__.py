"""LoRA files: inspect (safetensors header + metadata summary), library (the `loras` table), compare,
resize (QR + core SVD, sd-scripts' rules), hub (upload with a model card) and download (Hub, Civitai)."""
