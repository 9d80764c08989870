"""`kustomize build DIR` with the real kustomize (Go, through pykustomize); YAML on stdout."""
import asyncio
import sys

import pykustomize

try:
    print(asyncio.run(pykustomize.build(sys.argv[1])).yaml, end="")
except pykustomize.KustomizeError as e:
    print(f"kustomize build failed: {e}", file=sys.stderr)
    sys.exit(1)
