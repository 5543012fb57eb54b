"""Write the C source of a libcudart.so.12 over CUDA 13's libcudart.so.13, for running
TensorFlow's CUDA 12.5 wheel on a machine that has only CUDA 13 (see README.md here).

    python gen_cudart12_shim.py <CUDA 12 driver_types.h> <CUDA 13 driver_types.h> > shim.c

CUDA 13 dropped cudaGetDeviceProperties_v2 (TensorFlow's GPU init calls it) and changed
struct cudaDeviceProp; the shim fills the CUDA 12 struct from the CUDA 13 one field by field,
reads the fields CUDA 13 removed as device attributes, and maps the removed cudaThread* calls
to their cudaDevice* equivalents. Every other symbol resolves in libcudart.so.13.
"""
from __future__ import annotations

import re
import sys

# CUDA 12 fields that CUDA 13 removed from the struct but still answers as attributes.
AS_ATTRIBUTE = {
    "clockRate": "cudaDevAttrClockRate",
    "memoryClockRate": "cudaDevAttrMemoryClockRate",
    "deviceOverlap": "cudaDevAttrGpuOverlap",
    "kernelExecTimeoutEnabled": "cudaDevAttrKernelExecTimeout",
    "computeMode": "cudaDevAttrComputeMode",
    "maxTexture1DLinear": "cudaDevAttrMaxTexture1DLinearWidth",
    "singleToDoublePrecisionPerfRatio": "cudaDevAttrSingleToDoublePrecisionPerfRatio",
}
THREAD_ALIASES = """
cudaError_t CUDARTAPI cudaThreadSynchronize(void) { return cudaDeviceSynchronize(); }
cudaError_t CUDARTAPI cudaThreadExit(void) { return cudaDeviceReset(); }
cudaError_t CUDARTAPI cudaThreadSetLimit(enum cudaLimit l, size_t v) {
    return cudaDeviceSetLimit(l, v); }
cudaError_t CUDARTAPI cudaThreadGetLimit(size_t *v, enum cudaLimit l) {
    return cudaDeviceGetLimit(v, l); }
cudaError_t CUDARTAPI cudaThreadGetCacheConfig(enum cudaFuncCache *c) {
    return cudaDeviceGetCacheConfig(c); }
cudaError_t CUDARTAPI cudaThreadSetCacheConfig(enum cudaFuncCache c) {
    return cudaDeviceSetCacheConfig(c); }
"""


def struct_body(header: str) -> str:
    match = re.search(r"struct __device_builtin__ cudaDeviceProp\s*\{(.*?)\n\};", header, re.S)
    return match.group(1)


def fields(body: str) -> dict[str, str]:
    """field name -> array dimensions ('' for a scalar)."""
    out = {}
    for line in body.splitlines():
        line = re.sub(r"/\*.*?\*/|//.*", "", line).strip()
        match = re.match(r"(.+?)\s+(\w+)\s*((\[\w+\])*)\s*;$", line)
        if match:
            out[match.group(2)] = match.group(3)
    return out


def main() -> None:
    header12, header13 = (open(path).read() for path in sys.argv[1:3])
    body12 = struct_body(header12)
    f12, f13 = fields(body12), fields(struct_body(header13))
    copies = []
    for name, dims in f12.items():
        if name.startswith("reserved"):
            continue
        if name in f13:
            copies.append(f"    memcpy(&p->{name}, &q.{name}, sizeof p->{name});" if dims
                          else f"    p->{name} = q.{name};")
        elif name in AS_ATTRIBUTE and re.search(rf"\b{AS_ATTRIBUTE[name]}\b", header13):
            copies.append(f"    if (cudaDeviceGetAttribute(&v, {AS_ATTRIBUTE[name]}, device) "
                          f"== cudaSuccess) p->{name} = v;")
        else:
            copies.append(f"    /* {name}: not in CUDA 13, left 0 */")
    copy_lines = "\n".join(copies)
    sys.stdout.write(f"""/* libcudart.so.12 over libcudart.so.13, by gen_cudart12_shim.py */
#include <string.h>
#include "cuda_runtime_api.h"
struct cudaDeviceProp12 {{{body12}
}};
cudaError_t CUDARTAPI cudaGetDeviceProperties_v2(struct cudaDeviceProp12 *p, int device) {{
    struct cudaDeviceProp q; int v;
    cudaError_t e = cudaGetDeviceProperties(&q, device);
    if (e != cudaSuccess) return e;
    memset(p, 0, sizeof *p);
{copy_lines}
    return cudaSuccess;
}}
{THREAD_ALIASES}""")


if __name__ == "__main__":
    main()
