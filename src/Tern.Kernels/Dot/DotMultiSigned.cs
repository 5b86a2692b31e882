using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Tern.Kernels.Dot;

/// <summary>
/// A weight block of 32 that meets Q8_0 activations as small integers times one half scale stored at offset 0
/// (Q4_0, Q5_0, Q8_0). Implemented by structs so <see cref="DotMultiSigned{TBlock}"/> is compiled once per type.
/// </summary>
internal interface ISignedQ8Block
{
    static abstract int BlockBytes { get; }

    /// <summary>The weights are the stored unsigned values u minus this offset.</summary>
    static abstract byte Offset { get; }

    /// <summary>Whether vpmaddubsw's int16 pair sums of u·y cannot saturate (u ≤ 128).</summary>
    static abstract bool SmallUnsigned { get; }

    /// <summary>The block's 32 stored values u in element order. Requires AVX2.</summary>
    static abstract Vector256<byte> LoadUnsigned(ref byte block);

    /// <summary>The block's 32 weights u − offset as signed bytes in element order. Requires AVX2.</summary>
    static abstract Vector256<sbyte> Load(ref byte block);

    /// <summary>The block's 32 weights as integers, for the scalar twin.</summary>
    static abstract void Unpack(ReadOnlySpan<byte> block, Span<int> q);

    /// <summary>The single-pair dot every result must match bit for bit.</summary>
    static abstract float DotOne(ReadOnlySpan<byte> weights, ReadOnlySpan<byte> activations);
}

/// <summary>
/// Weight rows · Q8_0 activation rows for the <see cref="ISignedQ8Block"/> types (see <see cref="DotRows"/>).
/// </summary>
/// <remarks>
/// The single-row kernels (DotQ4_0, DotQ5_0, DotQ8_0) add d·(8 per-lane integer sums) per block into one float
/// accumulator, block after block, and sum its lanes at the end (llama.cpp's AVX2 order, ggml_vec_dot_q8_0_q8_0). Every result here comes from the same integers in the
/// same float operations and order, so it is bit for bit the single-row dot and batching never changes a token's
/// output. Two tiles: two weight rows × four tokens (each token's offset sums Σ offset·y and the block scales
/// dx·dy shared by both rows; Q8_0 without AVX-VNNI, whose 0..255 stored values would saturate vpmaddubsw, takes
/// the sign trick |q|·(y·sign q) instead), and one row × four tokens with the sign trick (odd row counts).
/// </remarks>
[SkipLocalsInit]
internal static unsafe class DotMultiSigned<TBlock>
    where TBlock : struct, ISignedQ8Block
{
    private const int Tokens = DotMultiBlocks.Tokens;
    private const int ActivationBlockBytes = 34;

    public static void Dot(ReadOnlySpan<byte> weights, int rows, ReadOnlySpan<byte> activations, Span<float> results)
    {
        int blocks = DotMultiBlocks.Count(weights, rows, TBlock.BlockBytes, activations, ActivationBlockBytes, results.Length, out int tokens);
        if (!DotBlocks.Avx2Fma)
        {
            DotMultiBlocks.ScalarRows(weights, rows, activations, results, blocks, tokens, TBlock.BlockBytes, &ScalarRow);
            return;
        }

        int rowBytes = blocks * TBlock.BlockBytes;
        int activationRowBytes = blocks * ActivationBlockBytes;
        ref byte w = ref MemoryMarshal.GetReference(weights);
        ref byte a = ref MemoryMarshal.GetReference(activations);
        ref float output = ref MemoryMarshal.GetReference(results);
        int pairs = rows / 2;
        Tile8 tile = default;
        int t = 0;
        for (; t + Tokens <= tokens; t += Tokens)
        {
            ref byte y = ref Unsafe.Add(ref a, (nint)t * activationRowBytes);
            int r = 0;
            for (; r < 2 * pairs; r += 2)
            {
                Avx2Dot2x4(ref Unsafe.Add(ref w, (nint)r * rowBytes), rowBytes, ref y, activationRowBytes, blocks, ref tile);
                for (int i = 0; i < Tokens; i++)
                {
                    Unsafe.Add(ref output, (nint)r * tokens + t + i) = tile[i];
                    Unsafe.Add(ref output, (nint)(r + 1) * tokens + t + i) = tile[Tokens + i];
                }
            }

            for (; r < rows; r++)
            {
                Avx2Dot1x4(ref Unsafe.Add(ref w, (nint)r * rowBytes), ref y, activationRowBytes, blocks, ref Unsafe.Add(ref output, (nint)r * tokens + t));
            }
        }

        DotMultiBlocks.Remainder(weights, rows, activations, results, t, rowBytes, activationRowBytes, &DotOne);
    }

    private static float DotOne(ReadOnlySpan<byte> weights, ReadOnlySpan<byte> activations) => TBlock.DotOne(weights, activations);

    /// <summary>Plain twin: each block unpacked to integers once, then per token the sums of the scalar single-row dot.</summary>
    public static void Scalar(ReadOnlySpan<byte> weights, int rows, ReadOnlySpan<byte> activations, Span<float> results)
    {
        int blocks = DotMultiBlocks.Count(weights, rows, TBlock.BlockBytes, activations, ActivationBlockBytes, results.Length, out int tokens);
        DotMultiBlocks.ScalarRows(weights, rows, activations, results, blocks, tokens, TBlock.BlockBytes, &ScalarRow);
    }

    private static void ScalarRow(ReadOnlySpan<byte> weights, ReadOnlySpan<byte> activations, Span<float> results, int blocks)
    {
        int activationRowBytes = blocks * ActivationBlockBytes;
        Span<int> q = stackalloc int[32];
        results.Clear();
        for (int b = 0; b < blocks; b++)
        {
            var x = weights.Slice(b * TBlock.BlockBytes, TBlock.BlockBytes);
            TBlock.Unpack(x, q);
            float dx = DotBlocks.ReadHalf(x, 0);
            for (int t = 0; t < results.Length; t++)
            {
                var y = activations.Slice(t * activationRowBytes + b * ActivationBlockBytes, ActivationBlockBytes);
                int sumi = 0;
                for (int j = 0; j < 32; j++)
                {
                    sumi += q[j] * (sbyte)y[2 + j];
                }

                results[t] += sumi * (dx * DotBlocks.ReadHalf(y, 0));
            }
        }
    }

    /// <summary>Eight results or accumulators: row 0 tokens 0..3, then row 1 tokens 0..3.</summary>
    [InlineArray(8)]
    private struct Tile8
    {
        private float _element;
    }

    [InlineArray(8)]
    private struct Accumulators8
    {
        private Vector256<float> _element;
    }

    private static void Avx2Dot2x4(ref byte x, nint rowBytes, ref byte y, nint stride, int blocks, ref Tile8 results)
    {
        Accumulators8 sums = default;
        Pass2x4(ref x, rowBytes, ref y, stride, blocks, ref sums);
        for (int i = 0; i < 8; i++)
        {
            results[i] = DotBlocks.HorizontalSum(sums[i]);
        }
    }

    /// <summary>The first <paramref name="count"/> blocks from <paramref name="x"/>/<paramref name="y"/> on, in order.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)] // placement of the long loop inside callers proved up to 2.5x slower
    private static void Pass2x4(ref byte x, nint rowBytes, ref byte y, nint stride, int count, ref Accumulators8 output)
    {
        ref float table = ref HalfConversion.TableStart;
        Vector256<float> scratch = default;
        ref float scales = ref Unsafe.As<Vector256<float>, float>(ref scratch);
        Vector256<float> a00 = default, a01 = default, a02 = default, a03 = default;
        Vector256<float> a10 = default, a11 = default, a12 = default, a13 = default;
        for (int i = 0; i < count; i++)
        {
            ref byte x1 = ref Unsafe.Add(ref x, rowBytes);
            ref byte y1 = ref Unsafe.Add(ref y, stride);
            ref byte y2 = ref Unsafe.Add(ref y, 2 * stride);
            ref byte y3 = ref Unsafe.Add(ref y, 3 * stride);

            // The eight block scales dx·dy in one multiply; each is then broadcast from memory (a load, no shuffle).
            var dy = Vector128.Create(HalfConversion.Lookup(ref table, ref y), HalfConversion.Lookup(ref table, ref y1),
                HalfConversion.Lookup(ref table, ref y2), HalfConversion.Lookup(ref table, ref y3));
            var dx = Vector256.Create(Vector128.Create(HalfConversion.Lookup(ref table, ref x)), Vector128.Create(HalfConversion.Lookup(ref table, ref x1)));
            (dx * Vector256.Create(dy, dy)).StoreUnsafe(ref scales);

            if (AvxVnni.IsSupported || TBlock.SmallUnsigned)
            {
                var u0 = TBlock.LoadUnsigned(ref x);
                var u1 = TBlock.LoadUnsigned(ref x1);
                Token2x4(ref y, u0, u1, ref scales, ref a00, ref a10);
                Token2x4(ref y1, u0, u1, ref Unsafe.Add(ref scales, 1), ref a01, ref a11);
                Token2x4(ref y2, u0, u1, ref Unsafe.Add(ref scales, 2), ref a02, ref a12);
                Token2x4(ref y3, u0, u1, ref Unsafe.Add(ref scales, 3), ref a03, ref a13);
            }
            else
            {
                var q0 = TBlock.Load(ref x);
                var q1 = TBlock.Load(ref x1);
                var m0 = Avx2.Abs(q0);
                var m1 = Avx2.Abs(q1);
                SignedToken2x4(ref y, q0, m0, q1, m1, ref scales, ref a00, ref a10);
                SignedToken2x4(ref y1, q0, m0, q1, m1, ref Unsafe.Add(ref scales, 1), ref a01, ref a11);
                SignedToken2x4(ref y2, q0, m0, q1, m1, ref Unsafe.Add(ref scales, 2), ref a02, ref a12);
                SignedToken2x4(ref y3, q0, m0, q1, m1, ref Unsafe.Add(ref scales, 3), ref a03, ref a13);
            }

            x = ref Unsafe.Add(ref x, TBlock.BlockBytes);
            y = ref Unsafe.Add(ref y, ActivationBlockBytes);
        }

        output[0] = a00;
        output[1] = a01;
        output[2] = a02;
        output[3] = a03;
        output[4] = a10;
        output[5] = a11;
        output[6] = a12;
        output[7] = a13;
    }

    /// <summary>One token against both rows: Σ (u − offset)·y per lane as Σ u·y − Σ offset·y, the second shared.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Token2x4(ref byte y, Vector256<byte> u0, Vector256<byte> u1, ref float scales, ref Vector256<float> acc0, ref Vector256<float> acc1)
    {
        var v = Vector256.LoadUnsafe(ref y, 2).AsSByte();
        var offset = Vector256.Create(TBlock.Offset);
        Vector256<int> s0, s1;
        if (AvxVnni.IsSupported)
        {
            // −Σ offset·y as the starting value of each row's vpdpbusd (activations are never −128, so −y fits).
            var start = AvxVnni.MultiplyWideningAndAdd(Vector256<int>.Zero, offset, -v);
            s0 = AvxVnni.MultiplyWideningAndAdd(start, u0, v);
            s1 = AvxVnni.MultiplyWideningAndAdd(start, u1, v);
        }
        else
        {
            // Both int16 pair sums stay within ±2·128·127 (SmallUnsigned), so their difference is exact.
            var shared = Avx2.MultiplyAddAdjacent(offset, v);
            s0 = Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(u0, v) - shared, Vector256.Create((short)1));
            s1 = Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(u1, v) - shared, Vector256.Create((short)1));
        }

        acc0 = Fma.MultiplyAdd(Vector256.Create(scales), Avx.ConvertToVector256Single(s0), acc0);
        acc1 = Fma.MultiplyAdd(Vector256.Create(Unsafe.Add(ref scales, 4)), Avx.ConvertToVector256Single(s1), acc1);
    }

    /// <summary>One token against both rows with the sign trick |q|·(y·sign q) (Q8_0 without AVX-VNNI).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void SignedToken2x4(ref byte y, Vector256<sbyte> q0, Vector256<byte> m0, Vector256<sbyte> q1, Vector256<byte> m1,
        ref float scales, ref Vector256<float> acc0, ref Vector256<float> acc1)
    {
        var v = Vector256.LoadUnsafe(ref y, 2).AsSByte();
        var s0 = DotBlocks.MulSum(m0, Avx2.Sign(v, q0));
        var s1 = DotBlocks.MulSum(m1, Avx2.Sign(v, q1));
        acc0 = Fma.MultiplyAdd(Vector256.Create(scales), Avx.ConvertToVector256Single(s0), acc0);
        acc1 = Fma.MultiplyAdd(Vector256.Create(Unsafe.Add(ref scales, 4)), Avx.ConvertToVector256Single(s1), acc1);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void Avx2Dot1x4(ref byte x, ref byte y, nint stride, int blocks, ref float results)
    {
        ref float table = ref HalfConversion.TableStart;
        Vector128<float> scratch = default;
        ref float scales = ref Unsafe.As<Vector128<float>, float>(ref scratch);
        Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default; // tokens 0..3
        for (int b = 0; b < blocks; b++)
        {
            Block1x4(ref table, ref scales, ref x, ref y, stride, ref a0, ref a1, ref a2, ref a3);
            x = ref Unsafe.Add(ref x, TBlock.BlockBytes);
            y = ref Unsafe.Add(ref y, ActivationBlockBytes);
        }

        results = DotBlocks.HorizontalSum(a0);
        Unsafe.Add(ref results, 1) = DotBlocks.HorizontalSum(a1);
        Unsafe.Add(ref results, 2) = DotBlocks.HorizontalSum(a2);
        Unsafe.Add(ref results, 3) = DotBlocks.HorizontalSum(a3);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Block1x4(ref float table, ref float scales, ref byte x, ref byte y, nint stride,
        ref Vector256<float> acc0, ref Vector256<float> acc1, ref Vector256<float> acc2, ref Vector256<float> acc3)
    {
        ref byte y1 = ref Unsafe.Add(ref y, stride);
        ref byte y2 = ref Unsafe.Add(ref y, 2 * stride);
        ref byte y3 = ref Unsafe.Add(ref y, 3 * stride);
        var dy = Vector128.Create(HalfConversion.Lookup(ref table, ref y), HalfConversion.Lookup(ref table, ref y1),
            HalfConversion.Lookup(ref table, ref y2), HalfConversion.Lookup(ref table, ref y3));
        (Vector128.Create(HalfConversion.Lookup(ref table, ref x)) * dy).StoreUnsafe(ref scales);

        var q = TBlock.Load(ref x);
        var magnitude = Avx2.Abs(q);
        acc0 = Token1x4(ref y, scales, magnitude, q, acc0);
        acc1 = Token1x4(ref y1, Unsafe.Add(ref scales, 1), magnitude, q, acc1);
        acc2 = Token1x4(ref y2, Unsafe.Add(ref scales, 2), magnitude, q, acc2);
        acc3 = Token1x4(ref y3, Unsafe.Add(ref scales, 3), magnitude, q, acc3);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Token1x4(ref byte y, float d, Vector256<byte> magnitude, Vector256<sbyte> q, Vector256<float> acc)
    {
        var sums = DotBlocks.MulSum(magnitude, Avx2.Sign(Vector256.LoadUnsafe(ref y, 2).AsSByte(), q));
        return Fma.MultiplyAdd(Vector256.Create(d), Avx.ConvertToVector256Single(sums), acc);
    }
}

/// <summary>Q4_0 weight rows · Q8_0 activation rows (<see cref="DotRows"/>); each result equals <see cref="DotQ4_0.Dot"/> bit for bit.</summary>
public static class DotMultiQ4_0
{
    /// <summary>Activation rows per pass of the SIMD kernel.</summary>
    public const int Tokens = DotMultiBlocks.Tokens;

    public static void Dot(ReadOnlySpan<byte> weights, int rows, ReadOnlySpan<byte> activations, Span<float> results) =>
        DotMultiSigned<Block>.Dot(weights, rows, activations, results);

    /// <summary>Plain twin of <see cref="Dot"/>; each result equals <see cref="DotQ4_0.Scalar"/> bit for bit.</summary>
    public static void Scalar(ReadOnlySpan<byte> weights, int rows, ReadOnlySpan<byte> activations, Span<float> results) =>
        DotMultiSigned<Block>.Scalar(weights, rows, activations, results);

    // d (f16) | qs[16]: weight j = (qs[j] & 15) − 8, weight j + 16 = (qs[j] >> 4) − 8.
    private struct Block : ISignedQ8Block
    {
        public static int BlockBytes => 18;

        public static byte Offset => 8;

        public static bool SmallUnsigned => true;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector256<byte> LoadUnsigned(ref byte block)
        {
            var packed = Vector128.LoadUnsafe(ref block, 2);
            return Vector256.Create(packed, Vector128.ShiftRightLogical(packed.AsUInt16(), 4).AsByte()) & Vector256.Create((byte)0x0F);
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector256<sbyte> Load(ref byte block) => LoadUnsigned(ref block).AsSByte() - Vector256.Create((sbyte)8);

        public static void Unpack(ReadOnlySpan<byte> block, Span<int> q)
        {
            for (int j = 0; j < 16; j++)
            {
                q[j] = (block[2 + j] & 0x0F) - 8;
                q[j + 16] = (block[2 + j] >> 4) - 8;
            }
        }

        public static float DotOne(ReadOnlySpan<byte> weights, ReadOnlySpan<byte> activations) => DotQ4_0.Dot(weights, activations);
    }
}

/// <summary>Q5_0 weight rows · Q8_0 activation rows (<see cref="DotRows"/>); each result equals <see cref="DotQ5_0.Dot"/> bit for bit.</summary>
public static class DotMultiQ5_0
{
    /// <summary>Activation rows per pass of the SIMD kernel.</summary>
    public const int Tokens = DotMultiBlocks.Tokens;

    public static void Dot(ReadOnlySpan<byte> weights, int rows, ReadOnlySpan<byte> activations, Span<float> results) =>
        DotMultiSigned<Block>.Dot(weights, rows, activations, results);

    /// <summary>Plain twin of <see cref="Dot"/>; each result equals <see cref="DotQ5_0.Scalar"/> bit for bit.</summary>
    public static void Scalar(ReadOnlySpan<byte> weights, int rows, ReadOnlySpan<byte> activations, Span<float> results) =>
        DotMultiSigned<Block>.Scalar(weights, rows, activations, results);

    // d (f16) | qh (uint32, fifth bit of weight j is bit j) | qs[16] (low nibbles as Q4_0): weight = q − 16.
    private struct Block : ISignedQ8Block
    {
        public static int BlockBytes => 22;

        public static byte Offset => 16;

        public static bool SmallUnsigned => true;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector256<byte> LoadUnsigned(ref byte block)
        {
            var highBits = DotBlocks.BytesFromBits(Unsafe.ReadUnaligned<uint>(ref Unsafe.Add(ref block, 2))) & Vector256.Create((byte)0x10);
            var packed = Vector128.LoadUnsafe(ref block, 6);
            return (Vector256.Create(packed, Vector128.ShiftRightLogical(packed.AsUInt16(), 4).AsByte()) & Vector256.Create((byte)0x0F)) | highBits;
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector256<sbyte> Load(ref byte block) => LoadUnsigned(ref block).AsSByte() - Vector256.Create((sbyte)16);

        public static void Unpack(ReadOnlySpan<byte> block, Span<int> q)
        {
            uint qh = System.Buffers.Binary.BinaryPrimitives.ReadUInt32LittleEndian(block[2..]);
            for (int j = 0; j < 16; j++)
            {
                q[j] = ((block[6 + j] & 0x0F) | (int)((qh >> j) & 1) << 4) - 16;
                q[j + 16] = ((block[6 + j] >> 4) | (int)((qh >> (j + 16)) & 1) << 4) - 16;
            }
        }

        public static float DotOne(ReadOnlySpan<byte> weights, ReadOnlySpan<byte> activations) => DotQ5_0.Dot(weights, activations);
    }
}

/// <summary>Q8_0 weight rows · Q8_0 activation rows (<see cref="DotRows"/>); each result equals <see cref="DotQ8_0.Dot"/> bit for bit.</summary>
public static class DotMultiQ8_0
{
    /// <summary>Activation rows per pass of the SIMD kernel.</summary>
    public const int Tokens = DotMultiBlocks.Tokens;

    public static void Dot(ReadOnlySpan<byte> weights, int rows, ReadOnlySpan<byte> activations, Span<float> results) =>
        DotMultiSigned<Block>.Dot(weights, rows, activations, results);

    /// <summary>Plain twin of <see cref="Dot"/>; each result equals <see cref="DotQ8_0.Scalar"/> bit for bit.</summary>
    public static void Scalar(ReadOnlySpan<byte> weights, int rows, ReadOnlySpan<byte> activations, Span<float> results) =>
        DotMultiSigned<Block>.Scalar(weights, rows, activations, results);

    // d (f16) | qs[32] (int8); stored unsigned as q + 128 (the sign bit flipped) for the offset form.
    private struct Block : ISignedQ8Block
    {
        public static int BlockBytes => 34;

        public static byte Offset => 128;

        public static bool SmallUnsigned => false;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector256<byte> LoadUnsigned(ref byte block) => Vector256.LoadUnsafe(ref block, 2) ^ Vector256.Create((byte)0x80);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector256<sbyte> Load(ref byte block) => Vector256.LoadUnsafe(ref block, 2).AsSByte();

        public static void Unpack(ReadOnlySpan<byte> block, Span<int> q)
        {
            for (int j = 0; j < 32; j++)
            {
                q[j] = (sbyte)block[2 + j];
            }
        }

        public static float DotOne(ReadOnlySpan<byte> weights, ReadOnlySpan<byte> activations) => DotQ8_0.Dot(weights, activations);
    }
}
