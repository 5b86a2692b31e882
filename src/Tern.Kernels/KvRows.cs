using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Tern.Gguf;
using Tern.Kernels.Quant;

namespace Tern.Kernels;

/// <summary>
/// Element types a KV cache may hold (llama.cpp's -ctk/-ctv: F16, Q8_0, Q4_0, in ggml's block layouts) and the
/// widening of cached rows to float that attention does a chunk at a time. A quantized head slice is whole blocks
/// of 32, so the head size must be a multiple of 32 for Q8_0 and Q4_0.
/// </summary>
public static class KvRows
{
    public static bool IsSupported(GgmlType type) => type is GgmlType.F16 or GgmlType.Q8_0 or GgmlType.Q4_0;

    /// <summary>Bytes of <paramref name="elements"/> cached elements of <paramref name="type"/>.</summary>
    public static int RowBytes(GgmlType type, int elements) => checked((int)QuantTypes.Get(type).RowBytes(elements));

    /// <summary>Writes a float row into the cache's type (round to nearest even for F16, ggml's reference quantizers otherwise).</summary>
    public static void Store(GgmlType type, ReadOnlySpan<float> row, Span<byte> destination)
    {
        if (type == GgmlType.F16)
            System.Numerics.Tensors.TensorPrimitives.ConvertToHalf(row, System.Runtime.InteropServices.MemoryMarshal.Cast<byte, Half>(destination));
        else
            QuantTypes.Get(type).FromFloat!(row, destination);
    }

    /// <summary>Plain twin: widens <paramref name="rows"/> rows of <paramref name="d"/> elements at <paramref name="stride"/> bytes into packed float rows.</summary>
    public static void WidenScalar(GgmlType type, ReadOnlySpan<byte> source, int stride, int rows, int d, Span<float> destination)
    {
        var toFloat = QuantTypes.Get(type).ToFloat;
        int bytes = RowBytes(type, d);
        for (int i = 0; i < rows; i++)
            toFloat(source.Slice(i * stride, bytes), destination.Slice(i * d, d));
    }

    /// <summary>Widens as <see cref="WidenScalar"/> does, with AVX2 where available (same floats, bit for bit).</summary>
    public static unsafe void Widen(GgmlType type, ReadOnlySpan<byte> source, int stride, int rows, int d, Span<float> destination)
    {
        int bytes = RowBytes(type, d);
        if (rows > 0 && (source.Length < (long)(rows - 1) * stride + bytes || destination.Length < (long)rows * d))
            throw new ArgumentException($"{rows} rows of {d} {type} elements at stride {stride}: source or destination too short");
        if (!Avx2.IsSupported || d % 8 != 0)
        {
            WidenScalar(type, source, stride, rows, d, destination);
            return;
        }

        fixed (byte* s = source)
        fixed (float* o = destination)
            WidenAvx2(type, s, stride, rows, d, o);
    }

    /// <summary>AVX2 widening, element for element equal to <see cref="WidenScalar"/>; d must be a multiple of 8 (32 when quantized).</summary>
    internal static unsafe void WidenAvx2(GgmlType type, byte* source, int stride, int rows, int d, float* destination)
    {
        for (int i = 0; i < rows; i++)
        {
            byte* s = source + (long)i * stride;
            float* o = destination + (long)i * d;
            switch (type)
            {
                case GgmlType.F16:
                    HalfConversion.ToSingleRow((short*)s, o, d);
                    break;
                case GgmlType.Q8_0:
                    for (int j = 0; j < d; j += Q8_0.BlockSize, s += Q8_0.BlockBytes)
                        WidenQ8_0(s, o + j);
                    break;
                case GgmlType.Q4_0:
                    for (int j = 0; j < d; j += Q4_0.BlockSize, s += Q4_0.BlockBytes)
                        WidenQ4_0(s, o + j);
                    break;
                default:
                    throw new NotSupportedException($"KV cache type {type}");
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void WidenQ8_0(byte* block, float* o)
    {
        var d = Vector256.Create(HalfConversion.ToSingle(*(ushort*)block));
        sbyte* qs = (sbyte*)(block + Q8_0.OffsetQs);
        for (int k = 0; k < 32; k += 8)
            (Avx.ConvertToVector256Single(Avx2.ConvertToVector256Int32(qs + k)) * d).Store(o + k);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void WidenQ4_0(byte* block, float* o)
    {
        var d = Vector256.Create(HalfConversion.ToSingle(*(ushort*)block));
        var packed = Vector128.Load(block + Q4_0.OffsetQs);
        var low = packed & Vector128.Create((byte)0x0F);                          // elements 0..15
        var high = Vector128.ShiftRightLogical(packed.AsUInt16(), 4).AsByte() & Vector128.Create((byte)0x0F); // 16..31
        var eight = Vector256.Create(8);
        (Avx.ConvertToVector256Single(Avx2.ConvertToVector256Int32(low) - eight) * d).Store(o);
        (Avx.ConvertToVector256Single(Avx2.ConvertToVector256Int32(Sse2.ShiftRightLogical128BitLane(low, 8)) - eight) * d).Store(o + 8);
        (Avx.ConvertToVector256Single(Avx2.ConvertToVector256Int32(high) - eight) * d).Store(o + 16);
        (Avx.ConvertToVector256Single(Avx2.ConvertToVector256Int32(Sse2.ShiftRightLogical128BitLane(high, 8)) - eight) * d).Store(o + 24);
    }
}
