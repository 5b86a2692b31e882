using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Tern.Kernels.Dot;

/// <summary>
/// What the multi-token dot kernels share (several weight rows against several activation rows, see
/// <see cref="DotRows"/>): argument checks and the loop that tiles the rows and tokens for a one-row kernel.
/// </summary>
internal static unsafe class DotMultiBlocks
{
    /// <summary>Activation rows a SIMD kernel takes per pass, for every type.</summary>
    public const int Tokens = 4;

    /// <summary>
    /// Blocks per row; throws unless <paramref name="weights"/> is <paramref name="rows"/> whole rows and
    /// <paramref name="activations"/> is results / rows rows of as many blocks.
    /// </summary>
    public static int Count(ReadOnlySpan<byte> weights, int rows, int weightBlockBytes, ReadOnlySpan<byte> activations, int activationBlockBytes,
        int results, out int tokens)
    {
        if (rows <= 0 || weights.Length % rows != 0 || results % rows != 0)
        {
            ThrowShape(weights.Length, rows, results);
        }

        tokens = results / rows;
        int rowBytes = weights.Length / rows;
        int blocks = rowBytes / weightBlockBytes;
        if (rowBytes % weightBlockBytes != 0 || (long)blocks * activationBlockBytes * tokens != activations.Length)
        {
            ThrowMismatch(rowBytes, weightBlockBytes, activations.Length, activationBlockBytes, tokens);
        }

        return blocks;
    }

    /// <summary>
    /// A multi-token dot built from a one-row kernel: checks the shapes, then <see cref="Run"/> with AVX2 and FMA,
    /// else the scalar twin's rows (<see cref="Scalar"/>).
    /// </summary>
    public static void Dispatch(ReadOnlySpan<byte> weights, int rows, ReadOnlySpan<byte> activations, Span<float> results,
        int weightBlockBytes, int activationBlockBytes,
        delegate*<ref byte, ref byte, nint, int, ref float, void> kernel,
        delegate*<ReadOnlySpan<byte>, ReadOnlySpan<byte>, float> single,
        delegate*<ReadOnlySpan<byte>, ReadOnlySpan<byte>, Span<float>, int, void> scalarRow)
    {
        int blocks = Count(weights, rows, weightBlockBytes, activations, activationBlockBytes, results.Length, out int tokens);
        if (DotBlocks.Avx2Fma)
            Run(weights, rows, activations, results, blocks, weightBlockBytes, activationBlockBytes, kernel, single);
        else
            ScalarRows(weights, rows, activations, results, blocks, tokens, weightBlockBytes, scalarRow);
    }

    /// <summary>A scalar twin: checks the shapes, then <paramref name="scalarRow"/> for each weight row.</summary>
    public static void Scalar(ReadOnlySpan<byte> weights, int rows, ReadOnlySpan<byte> activations, Span<float> results,
        int weightBlockBytes, int activationBlockBytes, delegate*<ReadOnlySpan<byte>, ReadOnlySpan<byte>, Span<float>, int, void> scalarRow)
    {
        int blocks = Count(weights, rows, weightBlockBytes, activations, activationBlockBytes, results.Length, out int tokens);
        ScalarRows(weights, rows, activations, results, blocks, tokens, weightBlockBytes, scalarRow);
    }

    /// <summary>
    /// results[r·tokens + t] for every row and token: <paramref name="kernel"/> (one row × <see cref="Tokens"/>
    /// tokens, writing 4 consecutive results) over token groups outer and rows inner, so the group's activations stay
    /// in L1; the last tokens that do not fill a group take <paramref name="single"/>, the bitwise-equal one-pair dot.
    /// </summary>
    public static void Run(ReadOnlySpan<byte> weights, int rows, ReadOnlySpan<byte> activations, Span<float> results, int blocks,
        int weightBlockBytes, int activationBlockBytes,
        delegate*<ref byte, ref byte, nint, int, ref float, void> kernel,
        delegate*<ReadOnlySpan<byte>, ReadOnlySpan<byte>, float> single)
    {
        int tokens = results.Length / rows;
        int rowBytes = blocks * weightBlockBytes;
        int activationRowBytes = blocks * activationBlockBytes;
        ref byte w = ref MemoryMarshal.GetReference(weights);
        ref byte a = ref MemoryMarshal.GetReference(activations);
        ref float output = ref MemoryMarshal.GetReference(results);
        int t = 0;
        for (; t + Tokens <= tokens; t += Tokens)
        {
            for (int r = 0; r < rows; r++)
            {
                kernel(ref Unsafe.Add(ref w, (nint)r * rowBytes), ref Unsafe.Add(ref a, (nint)t * activationRowBytes), activationRowBytes, blocks,
                    ref Unsafe.Add(ref output, (nint)r * tokens + t));
            }
        }

        Remainder(weights, rows, activations, results, t, rowBytes, activationRowBytes, single);
    }

    /// <summary>The scalar twins' outer loop: <paramref name="row"/> (one weight row against every token) for each row.</summary>
    public static void ScalarRows(ReadOnlySpan<byte> weights, int rows, ReadOnlySpan<byte> activations, Span<float> results, int blocks, int tokens,
        int weightBlockBytes, delegate*<ReadOnlySpan<byte>, ReadOnlySpan<byte>, Span<float>, int, void> row)
    {
        int rowBytes = blocks * weightBlockBytes;
        for (int r = 0; r < rows; r++)
        {
            row(weights.Slice(r * rowBytes, rowBytes), activations, results.Slice(r * tokens, tokens), blocks);
        }
    }

    /// <summary>The tokens from <paramref name="first"/> on, one pair at a time.</summary>
    public static void Remainder(ReadOnlySpan<byte> weights, int rows, ReadOnlySpan<byte> activations, Span<float> results, int first,
        int rowBytes, int activationRowBytes, delegate*<ReadOnlySpan<byte>, ReadOnlySpan<byte>, float> single)
    {
        int tokens = results.Length / rows;
        for (int t = first; t < tokens; t++)
        {
            var activation = activations.Slice(t * activationRowBytes, activationRowBytes);
            for (int r = 0; r < rows; r++)
            {
                results[r * tokens + t] = single(weights.Slice(r * rowBytes, rowBytes), activation);
            }
        }
    }

    [DoesNotReturn]
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void ThrowShape(int weightBytes, int rows, int results)
    {
        if (rows <= 0)
        {
            throw new ArgumentOutOfRangeException(nameof(rows), rows, "need at least one weight row");
        }

        throw new ArgumentException($"{weightBytes} weight bytes and {results} results are not {rows} whole rows each", "weights");
    }

    [DoesNotReturn]
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void ThrowMismatch(int rowBytes, int weightBlockBytes, int activationBytes, int activationBlockBytes, int tokens)
    {
        if (rowBytes % weightBlockBytes != 0)
        {
            throw new ArgumentException($"weight row of {rowBytes} bytes is not whole {weightBlockBytes}-byte blocks", "weights");
        }

        throw new ArgumentException(
            $"{tokens} activation rows of {rowBytes / weightBlockBytes} {activationBlockBytes}-byte blocks need " +
            $"{(long)tokens * (rowBytes / weightBlockBytes) * activationBlockBytes} bytes, got {activationBytes}", "activations");
    }
}
