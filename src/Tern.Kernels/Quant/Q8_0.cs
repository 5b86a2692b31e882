using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Tern.Kernels.Quant;

/// <summary>
/// ggml block_q8_0: 32 weights x = d·q, q in −127..127. Also the activation type of Q4_0, Q5_0 and Q8_0.
/// Layout (34 bytes): d (f16) | qs[32] (int8).
/// </summary>
[SkipLocalsInit]
public static class Q8_0
{
    public const int BlockSize = 32;
    public const int BlockBytes = 34;
    public const int OffsetD = 0;
    public const int OffsetQs = 2;

    public static void Dequantize(ReadOnlySpan<byte> blocks, Span<float> output)
    {
        int nb = BlockCount.ForDequantize(blocks.Length, output.Length, BlockSize, BlockBytes);
        for (int i = 0; i < nb; i++)
        {
            var b = blocks.Slice(i * BlockBytes, BlockBytes);
            var y = output.Slice(i * BlockSize, BlockSize);
            float d = F16.Read(b, OffsetD);
            var qs = MemoryMarshal.Cast<byte, sbyte>(b.Slice(OffsetQs, BlockSize));
            for (int j = 0; j < BlockSize; j++)
            {
                y[j] = qs[j] * d;
            }
        }
    }

    /// <summary>quantize_row_q8_0_ref (d = amax/127, q = round-half-away(x/d)); vectorized when Vector256 is accelerated, same bytes either way.</summary>
    public static void Quantize(ReadOnlySpan<float> input, Span<byte> blocks)
    {
        if (!Vector256.IsHardwareAccelerated)
        {
            QuantizeScalar(input, blocks);
            return;
        }

        int nb = BlockCount.ForQuantize(input.Length, blocks.Length, BlockSize, BlockBytes);
        ref float x = ref MemoryMarshal.GetReference(input);
        ref byte y = ref MemoryMarshal.GetReference(blocks);
        for (int i = 0; i < nb; i++)
        {
            ref float xb = ref Unsafe.Add(ref x, i * BlockSize);
            ref byte yb = ref Unsafe.Add(ref y, i * BlockBytes);
            var v0 = Vector256.LoadUnsafe(ref xb, 0);
            var v1 = Vector256.LoadUnsafe(ref xb, 8);
            var v2 = Vector256.LoadUnsafe(ref xb, 16);
            var v3 = Vector256.LoadUnsafe(ref xb, 24);
            float amax = Int8Rounding.MaxAbs(v0, v1, v2, v3);

            float d = amax / 127;
            float id = d != 0 ? 1.0f / d : 0.0f;
            Unsafe.WriteUnaligned(ref Unsafe.Add(ref yb, OffsetD), F16.FromFloat(d));
            Int8Rounding.RoundAwayToInt8(v0, v1, v2, v3, id).AsByte().StoreUnsafe(ref Unsafe.Add(ref yb, OffsetQs));
        }
    }

    /// <summary>Plain reference twin of <see cref="Quantize"/>.</summary>
    public static void QuantizeScalar(ReadOnlySpan<float> input, Span<byte> blocks)
    {
        int nb = BlockCount.ForQuantize(input.Length, blocks.Length, BlockSize, BlockBytes);
        for (int i = 0; i < nb; i++)
        {
            var x = input.Slice(i * BlockSize, BlockSize);
            var b = blocks.Slice(i * BlockBytes, BlockBytes);

            float amax = 0;
            for (int j = 0; j < BlockSize; j++)
            {
                amax = MathF.Max(amax, MathF.Abs(x[j]));
            }

            float d = amax / 127;
            float id = d != 0 ? 1.0f / d : 0.0f;
            F16.Write(b, OffsetD, d);

            var qs = MemoryMarshal.Cast<byte, sbyte>(b.Slice(OffsetQs, BlockSize));
            for (int j = 0; j < BlockSize; j++)
            {
                qs[j] = (sbyte)MathF.Round(x[j] * id, MidpointRounding.AwayFromZero);
            }
        }
    }
}
