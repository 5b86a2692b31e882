using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using Tern.Models;

namespace Tern.Cli.Bench;

/// <summary>
/// The bound every decoding step runs against: how fast this machine reads memory, and how many bytes one step
/// reads. `tern bench --bandwidth` measures the first once and prints each tg test's effective GB/s (bytes one step
/// reads × steps per second) and its share of the measured bandwidth.
/// </summary>
internal static unsafe class Bandwidth
{
    /// <summary>Bytes streamed per pass: far beyond any last-level cache.</summary>
    public const long DefaultBytes = 512L << 20;

    public const int Passes = 5;

    /// <summary>
    /// Read bandwidth in GB/s (10⁹ bytes per second) of <paramref name="threads"/> threads streaming their share of one
    /// anonymous buffer of <paramref name="bytes"/> bytes with vector loads: the best of <see cref="Passes"/> passes,
    /// after one pass that faults the pages in.
    /// </summary>
    public static double MeasureReadGBps(int threads, long bytes = DefaultBytes)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(threads);
        long perThread = bytes / threads / 4096 * 4096;
        ArgumentOutOfRangeException.ThrowIfZero(perThread, nameof(bytes));
        var buffer = (byte*)NativeMemory.AlignedAlloc((nuint)(perThread * threads), 4096);
        try
        {
            new Span<byte>(buffer, checked((int)Math.Min(int.MaxValue, perThread * threads))).Fill(1);
            for (long at = int.MaxValue; at < perThread * threads; at += 4096)
                buffer[at] = 1;
            double best = 0;
            using var start = new Barrier(threads + 1);
            using var done = new Barrier(threads + 1);
            long sink = 0;
            var workers = Enumerable.Range(0, threads).Select(t => new Thread(() =>
            {
                for (int pass = 0; pass <= Passes; pass++)
                {
                    start.SignalAndWait();
                    Interlocked.Add(ref sink, Sum(buffer + t * perThread, perThread));
                    done.SignalAndWait();
                }
            }) { IsBackground = true }).ToList();
            workers.ForEach(w => w.Start());
            for (int pass = 0; pass <= Passes; pass++)
            {
                start.SignalAndWait();
                long begin = Stopwatch.GetTimestamp();
                done.SignalAndWait();
                double seconds = Stopwatch.GetElapsedTime(begin).TotalSeconds;
                if (pass > 0) // the first pass faults the pages in
                    best = Math.Max(best, perThread * threads / seconds / 1e9);
            }

            workers.ForEach(w => w.Join());
            GC.KeepAlive(sink);
            return best;
        }
        finally
        {
            NativeMemory.AlignedFree(buffer);
        }
    }

    /// <summary>Sums 64-bit words with four independent vector chains, so loads, not adds, set the pace.</summary>
    private static long Sum(byte* p, long bytes)
    {
        Vector256<long> a = default, b = default, c = default, d = default;
        for (byte* end = p + bytes; p < end; p += 128)
        {
            a += Vector256.Load((long*)p);
            b += Vector256.Load((long*)(p + 32));
            c += Vector256.Load((long*)(p + 64));
            d += Vector256.Load((long*)(p + 96));
        }

        return Vector256.Sum(a + b + c + d);
    }

    /// <summary>
    /// Weight bytes one decoding step of one token reads: every tensor of the file, except a token embedding table
    /// with a separate output matrix (one row read, counted as nothing) and, in expert tensors, only the
    /// <see cref="ModelConfig.ExpertUsedCount"/> experts the token is routed to.
    /// </summary>
    public static long WeightBytesPerToken(IModelRunner m)
    {
        bool tiedOutput = !m.File.TryGetTensor("output.weight", out _);
        long bytes = 0;
        foreach (var tensor in m.File.Tensors)
        {
            if (tensor.Name == "token_embd.weight" && !tiedOutput)
                continue;
            bool experts = tensor.Dimensions.Length == 3 && m.Config.ExpertCount > 0 && tensor.Dimensions[2] == m.Config.ExpertCount;
            bytes += experts ? tensor.ByteCount / m.Config.ExpertCount * m.Config.ExpertUsedCount : tensor.ByteCount;
        }

        return bytes;
    }
}
