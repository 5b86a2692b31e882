using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Tern.Kernels.Quant;

/// <summary>
/// ggml block_q8_K: 256 activations x = d·q, q in −127..127, with d a float32 (not a half).
/// Layout (292 bytes): d (f32) | qs[256] (int8) | bsums[16] (int16, bsums[g] = Σ qs[16g .. 16g+15]).
/// The activation type of all K-quants and the TQ types; their dot products use bsums for the min/offset terms.
/// </summary>
[SkipLocalsInit]
public static class Q8_K
{
    public const int BlockSize = 256;
    public const int BlockBytes = 292;
    public const int OffsetD = 0;
    public const int OffsetQs = 4;
    public const int OffsetBsums = 260;

    public static void Dequantize(ReadOnlySpan<byte> blocks, Span<float> output)
    {
        int nb = BlockCount.ForDequantize(blocks.Length, output.Length, BlockSize, BlockBytes);
        for (int i = 0; i < nb; i++)
        {
            var b = blocks.Slice(i * BlockBytes, BlockBytes);
            var y = output.Slice(i * BlockSize, BlockSize);
            float d = BinaryPrimitives.ReadSingleLittleEndian(b);
            var qs = MemoryMarshal.Cast<byte, sbyte>(b.Slice(OffsetQs, BlockSize));
            for (int j = 0; j < BlockSize; j++)
            {
                y[j] = d * qs[j];
            }
        }
    }

    /// <summary>
    /// quantize_row_q8_K_ref: the largest-magnitude value maps to −127 (iscale = −127/max), q = nearest-even(x·iscale),
    /// d = 1/iscale; bsums filled. Vectorized when Vector256 is accelerated, same bytes either way.
    /// </summary>
    public static void Quantize(ReadOnlySpan<float> input, Span<byte> blocks)
    {
        if (!Vector256.IsHardwareAccelerated)
        {
            QuantizeScalar(input, blocks);
            return;
        }

        int nb = BlockCount.ForQuantize(input.Length, blocks.Length, BlockSize, BlockBytes);
        for (int i = 0; i < nb; i++)
        {
            QuantizeBlockVector(input.Slice(i * BlockSize, BlockSize), blocks.Slice(i * BlockBytes, BlockBytes));
        }
    }

    private static void QuantizeBlockVector(ReadOnlySpan<float> x, Span<byte> b)
    {
        ref float x0 = ref MemoryMarshal.GetReference(x);
        var m = Vector256<float>.Zero;
        for (int j = 0; j < BlockSize; j += 8)
        {
            m = Vector256.Max(m, Vector256.Abs(Vector256.LoadUnsafe(ref x0, (nuint)j)));
        }

        float amax = Int8Rounding.HorizontalMax(m);
        if (amax == 0)
        {
            b.Clear();
            return;
        }

        // The reference keeps the sign of the first value reaching amax.
        var target = Vector256.Create(amax);
        float max = 0;
        for (int j = 0; j < BlockSize; j += 8)
        {
            uint hits = Vector256.Equals(Vector256.Abs(Vector256.LoadUnsafe(ref x0, (nuint)j)), target).ExtractMostSignificantBits();
            if (hits != 0)
            {
                max = x[j + System.Numerics.BitOperations.TrailingZeroCount(hits)];
                break;
            }
        }

        float iscale = -127f / max;
        var s = Vector256.Create(iscale);
        var top = Vector256.Create(127);
        ref byte qs = ref Unsafe.Add(ref MemoryMarshal.GetReference(b), OffsetQs);
        var bsums = MemoryMarshal.Cast<byte, short>(b.Slice(OffsetBsums, 32));
        for (int g = 0; g < BlockSize / 16; g++)
        {
            int j = 16 * g;
            var q0 = Vector256.Min(top, Vector256.ConvertToInt32(Vector256.Round(Vector256.LoadUnsafe(ref x0, (nuint)j) * s)));
            var q1 = Vector256.Min(top, Vector256.ConvertToInt32(Vector256.Round(Vector256.LoadUnsafe(ref x0, (nuint)(j + 8)) * s)));
            var q16 = Vector256.Narrow(q0, q1);
            Vector128.Narrow(q16.GetLower(), q16.GetUpper()).StoreUnsafe(ref Unsafe.As<byte, sbyte>(ref Unsafe.Add(ref qs, j)));
            bsums[g] = (short)Vector256.Sum(q0 + q1);
        }

        BinaryPrimitives.WriteSingleLittleEndian(b, 1 / iscale);
    }

    /// <summary>Plain reference twin of <see cref="Quantize"/>.</summary>
    public static void QuantizeScalar(ReadOnlySpan<float> input, Span<byte> blocks)
    {
        int nb = BlockCount.ForQuantize(input.Length, blocks.Length, BlockSize, BlockBytes);
        for (int i = 0; i < nb; i++)
        {
            var x = input.Slice(i * BlockSize, BlockSize);
            var b = blocks.Slice(i * BlockBytes, BlockBytes);

            float max = 0, amax = 0;
            for (int j = 0; j < BlockSize; j++)
            {
                float ax = MathF.Abs(x[j]);
                if (ax > amax)
                {
                    amax = ax;
                    max = x[j];
                }
            }

            if (amax == 0)
            {
                b.Clear();
                continue;
            }

            float iscale = -127f / max;
            var qs = MemoryMarshal.Cast<byte, sbyte>(b.Slice(OffsetQs, BlockSize));
            for (int j = 0; j < BlockSize; j++)
            {
                qs[j] = (sbyte)Math.Min(127, ScaleSearch.NearestInt(iscale * x[j]));
            }

            var bsums = MemoryMarshal.Cast<byte, short>(b.Slice(OffsetBsums, 32));
            for (int g = 0; g < BlockSize / 16; g++)
            {
                int sum = 0;
                for (int l = 0; l < 16; l++)
                {
                    sum += qs[16 * g + l];
                }

                bsums[g] = (short)sum;
            }

            BinaryPrimitives.WriteSingleLittleEndian(b, 1 / iscale);
        }
    }
}
