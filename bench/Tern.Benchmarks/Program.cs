// Kernel micro-benchmarks (BenchmarkDotNet). Run in Release from the repository root; `--job short` keeps a run to
// minutes (3 warm-up + 3 measured iterations, one process per case):
//
//   dotnet run -c Release --project bench/Tern.Benchmarks -- --filter '*' --job short
//   dotnet run -c Release --project bench/Tern.Benchmarks -- --filter '*DotBenchmarks.Dot*' --job short   // SIMD dot, 1 thread
//   dotnet run -c Release --project bench/Tern.Benchmarks -- --filter '*MatMulBenchmarks*' --job short    // matmul, all cores
//   dotnet run -c Release --project bench/Tern.Benchmarks -- --filter '*HalfConversion*' --job short
//   dotnet run -c Release --project bench/Tern.Benchmarks -- --filter '*GrammarSampling*' --job short   // JSON schema cost per token, 151k vocabulary
//
// The GB/s column is bytes of weights read / mean time (compare with the machine's memory bandwidth); GMAC/s is
// multiply-adds per second for the matrix × matrix cases. Weights are cycled through 512 MB of copies so they come
// from DRAM, as when decoding a real model.
using BenchmarkDotNet.Running;

BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
