"""LoRA files: inspect (safetensors header + metadata summary), library (the `loras` table), compare,
resize (QR + core SVD, sd-scripts' rules), hub (upload with a model card), download (base models from the
Hub, the models table) and civitai (Civitai downloads)."""
