"""Benchmark-only additions, copied into a freshly baked project by benchmarks/project.py.

Nothing here is part of the template: the benchmark adds these modules next
to the generated package and points DJANGO_SETTINGS_MODULE at them, so the
generated files themselves run unchanged.
"""
