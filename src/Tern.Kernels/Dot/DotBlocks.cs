using System.Buffers.Binary;
using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Tern.Kernels.Dot;

/// <summary>Building blocks shared by the dot kernels: argument checks and the AVX2 integer dot steps.</summary>
internal static class DotBlocks
{
    /// <summary>How far ahead of the block being read the single-row kernels prefetch weights (bytes).</summary>
    /// <remarks>
    /// Decoding streams every weight row from memory once; the hardware prefetcher alone left the K-quant dots at
    /// ~60 % of one core's read bandwidth. A prefetch 2 KiB ahead (measured best of 0.5–4 KiB on Q6_K rows) keeps
    /// the lines arriving while a block is unpacked. Prefetches never fault, so reading past a row's end is harmless.
    /// </remarks>
    public const int PrefetchDistance = 2048;

    /// <summary>Prefetches the <paramref name="lines"/> cache lines that start <see cref="PrefetchDistance"/> bytes after
    /// <paramref name="x"/>: one block's worth when called once per block.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static unsafe void Prefetch(ref byte x, int lines)
    {
        if (!Sse.IsSupported)
            return;
        byte* p = (byte*)Unsafe.AsPointer(ref x) + PrefetchDistance;
        Sse.Prefetch0(p);
        if (lines > 1)
            Sse.Prefetch0(p + 64);
        if (lines > 2)
            Sse.Prefetch0(p + 128);
        if (lines > 3)
            Sse.Prefetch0(p + 192);
    }

    /// <summary>
    /// Number of blocks in a weight row and an activation row; throws unless both are whole blocks and equally many.
    /// </summary>
    public static int Count(ReadOnlySpan<byte> weights, int weightBlockBytes, ReadOnlySpan<byte> activations, int activationBlockBytes)
    {
        int blocks = weights.Length / weightBlockBytes;
        if (weights.Length % weightBlockBytes != 0 || activations.Length % activationBlockBytes != 0 || activations.Length / activationBlockBytes != blocks)
        {
            ThrowMismatch(weights.Length, weightBlockBytes, activations.Length, activationBlockBytes);
        }

        return blocks;
    }

    // Kept out of line so the message formatting does not weigh on every kernel's prologue.
    [DoesNotReturn]
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void ThrowMismatch(int weightBytes, int weightBlockBytes, int activationBytes, int activationBlockBytes)
    {
        if (weightBytes % weightBlockBytes != 0)
        {
            throw new ArgumentException($"weight row of {weightBytes} bytes is not whole {weightBlockBytes}-byte blocks", "weights");
        }

        if (activationBytes % activationBlockBytes != 0)
        {
            throw new ArgumentException($"activation row of {activationBytes} bytes is not whole {activationBlockBytes}-byte blocks", "activations");
        }

        throw new ArgumentException(
            $"weight row has {weightBytes / weightBlockBytes} blocks but activation row has {activationBytes / activationBlockBytes}", "activations");
    }

    /// <summary>The little-endian half at <paramref name="offset"/> as a float, for the scalar paths.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float ReadHalf(ReadOnlySpan<byte> bytes, int offset) =>
        HalfConversion.ToSingle(BinaryPrimitives.ReadUInt16LittleEndian(bytes[offset..]));

    /// <summary>The true AVX2 + FMA kernels need; false also when intrinsics are switched off (DOTNET_EnableAVX2=0).</summary>
    public static bool Avx2Fma
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => Avx2.IsSupported && Fma.IsSupported;
    }

    /// <summary>
    /// Sums of products of unsigned bytes with signed bytes, four adjacent pairs per int32 lane. Callers keep the
    /// pairwise sums within int16 (vpmaddubsw saturates; vpdpbusd does not, so both give the same result then).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<int> MulSum(Vector256<byte> x, Vector256<sbyte> y) => MulSumAdd(Vector256<int>.Zero, x, y);

    /// <summary><paramref name="acc"/> plus <see cref="MulSum"/>: one vpdpbusd where AVX-VNNI exists.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<int> MulSumAdd(Vector256<int> acc, Vector256<byte> x, Vector256<sbyte> y)
    {
        if (AvxVnni.IsSupported)
        {
            return AvxVnni.MultiplyWideningAndAdd(acc, x, y);
        }

        return acc + Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(x, y), Vector256.Create((short)1));
    }

    /// <summary>
    /// Accumulates Σ x·y of many unsigned×signed byte vectors: into <paramref name="wide"/> by vpdpbusd where
    /// AVX-VNNI exists, else as int16 pair sums into <paramref name="narrow"/> (one vpmaddwd at the end instead of
    /// one per step). Callers keep the accumulated int16 pair sums in range; finish with <see cref="Widen"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Accumulate(ref Vector256<int> wide, ref Vector256<short> narrow, Vector256<byte> x, Vector256<sbyte> y)
    {
        if (AvxVnni.IsSupported)
        {
            wide = AvxVnni.MultiplyWideningAndAdd(wide, x, y);
        }
        else
        {
            narrow += Avx2.MultiplyAddAdjacent(x, y);
        }
    }

    /// <summary>The int32 lane sums of what <see cref="Accumulate"/> gathered.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<int> Widen(Vector256<int> wide, Vector256<short> narrow) =>
        AvxVnni.IsSupported ? wide : Avx2.MultiplyAddAdjacent(narrow, Vector256.Create((short)1));

    /// <summary>
    /// <paramref name="acc"/> + Σ x·y over adjacent int16 pairs per int32 lane: one vpdpwssd where AVX-VNNI exists,
    /// else vpmaddwd and an add (the same exact integers either way).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<int> MulAddPairs(Vector256<int> acc, Vector256<short> x, Vector256<short> y) =>
        AvxVnni.IsSupported ? AvxVnni.MultiplyWideningAndAdd(acc, x, y) : acc + Avx2.MultiplyAddAdjacent(x, y);

    /// <summary>
    /// Σ (x − offset)·y over four adjacent pairs per int32 lane, for unsigned x stored with an offset (Q4_0: 8,
    /// Q5_0: 16): computed as Σ x·y − Σ offset·y, one instruction cheaper than the sign trick.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<int> MulSumOffset(Vector256<byte> x, Vector256<byte> offset, Vector256<sbyte> y)
    {
        if (AvxVnni.IsSupported)
        {
            return AvxVnni.MultiplyWideningAndAdd(Vector256<int>.Zero, x, y) - AvxVnni.MultiplyWideningAndAdd(Vector256<int>.Zero, offset, y);
        }

        // Both pairwise sums stay within ±2·31·128, so the int16 difference is exact.
        var pairs = Avx2.MultiplyAddAdjacent(x, y) - Avx2.MultiplyAddAdjacent(offset, y);
        return Avx2.MultiplyAddAdjacent(pairs, Vector256.Create((short)1));
    }

    /// <summary>
    /// Sums of products of signed bytes, four adjacent pairs per int32 lane, by the sign trick |x|·(y·sign x).
    /// <paramref name="y"/> must not hold −128 where x is negative (quantized activations never hold −128).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<int> MulSumSigned(Vector256<sbyte> x, Vector256<sbyte> y) =>
        MulSum(Avx2.Abs(x), Avx2.Sign(y, x));

    /// <summary>
    /// Spreads the 32 bits of <paramref name="bits"/> to 32 bytes: byte i is 0xFF where bit i is set, else 0.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<byte> BytesFromBits(uint bits)
    {
        // Byte i gets source byte i/8, then every bit but bit i%8 is forced on: all ones exactly when bit i is set.
        var spread = Avx2.Shuffle(Vector256.Create(bits).AsByte(), Vector256.Create(
            (byte)0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3));
        var others = Vector256.Create(0x7FBFDFEFF7FBFDFEul).AsByte();
        return Vector256.Equals(spread | others, Vector256<byte>.AllBitsSet);
    }

    /// <summary>The four tokens' lane sums of a 1-row × 4-token kernel, into results[0..4).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void StoreSums(ref float results, Vector256<float> acc0, Vector256<float> acc1, Vector256<float> acc2, Vector256<float> acc3)
    {
        results = HorizontalSum(acc0);
        Unsafe.Add(ref results, 1) = HorizontalSum(acc1);
        Unsafe.Add(ref results, 2) = HorizontalSum(acc2);
        Unsafe.Add(ref results, 3) = HorizontalSum(acc3);
    }

    /// <summary>Sum of the 8 lanes, in llama.cpp's order (hsum_float_8: the halves added, then as <see cref="HorizontalSum(Vector128{float})"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float HorizontalSum(Vector256<float> v) => HorizontalSum(v.GetLower() + v.GetUpper());

    /// <summary>Sum of the 4 lanes as llama.cpp's K-quant dots reduce theirs: (s0 + s2) + (s1 + s3).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float HorizontalSum(Vector128<float> s)
    {
        s += Sse.MoveHighToLow(s, s);
        s = Sse.AddScalar(s, Sse3.MoveHighAndDuplicate(s));
        return s.ToScalar();
    }
}
