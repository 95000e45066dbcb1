"""The bundled profiles (TOML), shipped inside the wheel as the package `llmbench_profiles`."""
