using System.Buffers.Binary;
using Tern.Gguf;

namespace Tern.Kernels.Tests;

/// <summary>
/// Random but valid rows of any supported element type, for kernel tests: random quant bits, small finite
/// half/float scales, and activation blocks (Q8_0, Q8_1, Q8_K) whose stored sums match their quants.
/// </summary>
public static class RandomBlocks
{
    /// <summary>
    /// A row of <paramref name="blocks"/> blocks of <paramref name="type"/> (for F32/F16/BF16 a block is one element).
    /// </summary>
    public static byte[] Make(GgmlType type, int blocks, Random rng)
    {
        var size = GgmlTypeSizes.Get(type);
        var row = new byte[blocks * size.BytesPerBlock];
        for (var b = 0; b < blocks; b++)
        {
            FillBlock(type, row.AsSpan(b * size.BytesPerBlock, size.BytesPerBlock), rng);
        }

        return row;
    }

    /// <summary>Element count of a row of <paramref name="blocks"/> blocks.</summary>
    public static int Elements(GgmlType type, int blocks) => blocks * GgmlTypeSizes.Get(type).BlockSize;

    private static void FillBlock(GgmlType type, Span<byte> block, Random rng)
    {
        switch (type)
        {
            case GgmlType.F32:
                BinaryPrimitives.WriteSingleLittleEndian(block, Value(rng));
                break;
            case GgmlType.F16:
                BinaryPrimitives.WriteHalfLittleEndian(block, (Half)Value(rng));
                break;
            case GgmlType.BF16:
                // Truncation of a float is a valid (if not nearest) bfloat16.
                BinaryPrimitives.WriteUInt16LittleEndian(block, (ushort)(BitConverter.SingleToUInt32Bits(Value(rng)) >> 16));
                break;
            case GgmlType.Q4_0: // d, qs[16]
            case GgmlType.Q5_0: // d, qh[4], qs[16]
            case GgmlType.Q2_K: // scales[16], qs[64], d, dmin
            case GgmlType.Q3_K: // hmask[32], qs[64], scales[12], d
            case GgmlType.Q6_K: // ql[128], qh[64], scales[16], d
            case GgmlType.Q4_1: // d, m, qs[16]
            case GgmlType.Q5_1: // d, m, qh[4], qs[16]
            case GgmlType.Q4_K: // d, dmin, scales[12], qs[128]
            case GgmlType.Q5_K: // d, dmin, scales[12], qh[32], qs[128]
            case GgmlType.IQ4_NL: // d, qs[16]
            case GgmlType.IQ4_XS: // d, scales_h, scales_l[4], qs[128]
                rng.NextBytes(block);
                WriteScales(type, block, rng);
                break;
            case GgmlType.Q8_0: // d, qs[32]
                WriteHalf(block, 0, Scale(rng));
                FillInt8(block.Slice(2, 32), rng);
                break;
            case GgmlType.Q8_1: // d, s = d * sum(qs), qs[32]
                {
                    var d = (float)(Half)Scale(rng);
                    FillInt8(block.Slice(4, 32), rng);
                    var sum = 0;
                    foreach (var q in block.Slice(4, 32))
                    {
                        sum += (sbyte)q;
                    }

                    WriteHalf(block, 0, d);
                    WriteHalf(block, 2, d * sum);
                    break;
                }

            case GgmlType.Q8_K: // float d, qs[256], short bsums[16] (sums of groups of 16 qs)
                {
                    BinaryPrimitives.WriteSingleLittleEndian(block, Scale(rng));
                    var qs = block.Slice(4, 256);
                    FillInt8(qs, rng);
                    for (var g = 0; g < 16; g++)
                    {
                        var sum = 0;
                        for (var i = 0; i < 16; i++)
                        {
                            sum += (sbyte)qs[g * 16 + i];
                        }

                        BinaryPrimitives.WriteInt16LittleEndian(block.Slice(260 + 2 * g), (short)sum);
                    }

                    break;
                }

            case GgmlType.TQ1_0: // qs[48] (5 trits a byte), qh[4] (4 trits a byte), d
                for (var i = 0; i < 48; i++)
                {
                    block[i] = PackTrits(rng, 5);
                }

                for (var i = 0; i < 4; i++)
                {
                    block[48 + i] = PackTrits(rng, 4);
                }

                WriteHalf(block, 52, Scale(rng));
                break;
            case GgmlType.TQ2_0: // qs[64] (4 two-bit values 0..2 a byte), d
                for (var i = 0; i < 64; i++)
                {
                    block[i] = (byte)(rng.Next(3) | rng.Next(3) << 2 | rng.Next(3) << 4 | rng.Next(3) << 6);
                }

                WriteHalf(block, 64, Scale(rng));
                break;
            case GgmlType.MXFP4: // e (E8M0 exponent, here scales 2^-16 .. 2^-1), qs[16]
                rng.NextBytes(block);
                block[0] = (byte)rng.Next(112, 128);
                break;
            default:
                throw new NotSupportedException($"no random block generator for {type}");
        }
    }

    private static void WriteScales(GgmlType type, Span<byte> block, Random rng)
    {
        switch (type)
        {
            case GgmlType.Q4_0 or GgmlType.Q5_0 or GgmlType.IQ4_NL or GgmlType.IQ4_XS:
                WriteHalf(block, 0, Scale(rng));
                break;
            case GgmlType.Q4_1 or GgmlType.Q5_1 or GgmlType.Q4_K or GgmlType.Q5_K:
                WriteHalf(block, 0, Scale(rng));
                WriteHalf(block, 2, Scale(rng));
                break;
            case GgmlType.Q2_K:
                WriteHalf(block, 80, Scale(rng));
                WriteHalf(block, 82, Scale(rng));
                break;
            case GgmlType.Q3_K:
                WriteHalf(block, 108, Scale(rng));
                break;
            case GgmlType.Q6_K:
                WriteHalf(block, 208, Scale(rng));
                break;
        }
    }

    /// <summary>Encodes <paramref name="count"/> random trits the way ggml's TQ1_0 quantizer does (first trit most significant).</summary>
    private static byte PackTrits(Random rng, int count)
    {
        var q = 0;
        for (var n = 0; n < count; n++)
        {
            q = q * 3 + rng.Next(3);
        }

        for (var n = count; n < 5; n++)
        {
            q *= 3;
        }

        return (byte)((q * 256 + 242) / 243); // ceiling division: the byte is a fixed-point fraction of 3^5
    }

    // Quantizers emit -127..127 (never -128); the SIMD sign trick relies on that for activations.
    private static void FillInt8(Span<byte> qs, Random rng)
    {
        for (var i = 0; i < qs.Length; i++)
        {
            qs[i] = (byte)(sbyte)rng.Next(-127, 128);
        }
    }

    private static float Value(Random rng) => (float)(rng.NextDouble() * 2 - 1);

    /// <summary>A small scale of either sign, 2^-10 .. 2^-5 in magnitude, exactly representable as a half.</summary>
    private static float Scale(Random rng)
    {
        var magnitude = (float)(Half)(Math.Pow(2, -10 + 5 * rng.NextDouble()));
        return rng.Next(2) == 0 ? magnitude : -magnitude;
    }

    private static void WriteHalf(Span<byte> block, int offset, float value) =>
        BinaryPrimitives.WriteHalfLittleEndian(block.Slice(offset), (Half)value);
}
