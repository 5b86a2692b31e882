using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Tern.Gguf;
using Tern.Kernels.Dot;
using Tern.Kernels.Quant;

namespace Tern.Kernels;

/// <summary>
/// y = x · Wᵀ over quantized weights: W [rows, cols] of any <see cref="QuantTypes"/> type, stored row after row as
/// in the GGUF file; x [nTokens, cols] float; y [nTokens, rows] float. Matrix × vector is nTokens = 1.
/// </summary>
/// <remarks>
/// As in llama.cpp, each activation row is quantized once into the weight type's <see cref="QuantType.DotActivation"/>
/// and the dot products run on quantized blocks, never on dequantized weights. Output rows are split across the
/// pool in chunks; a thread loops over the tokens for each row of its chunk, so a weight row comes from memory once
/// per call (from cache for the later tokens). Types with a <see cref="QuantType.DotMulti"/> kernel (prompt
/// processing) take the tokens in groups that stay in L1 while the chunk's rows pass by from L2, each weight block
/// unpacked once per group; its results equal the single-row dot's bit for bit, so a token's output does not depend
/// on the batch. The quantized activations live in a buffer owned by this instance and reused, so no call allocates
/// once it has seen its largest shape. Not thread-safe: one instance per caller.
/// </remarks>
public sealed unsafe class MatMul
{
    // Budget for one tile of quantized activation rows, so a tile stays in L2 while a chunk's weight rows pass by.
    private const int ActivationTileBytes = 256 * 1024;

    // Budget for one group of activation rows that a multi-token kernel meets every row of the chunk with (L1).
    private const int ActivationGroupBytes = 32 * 1024;

    // Most tokens in one multi-token group, and weight rows per multi-token call: the per-thread results scratch.
    private const int MaxGroupTokens = 64;
    private const int MultiRows = 16;

    private byte[] _activations = [];
    private int[] _offsets = [];
    private int[] _firstUnit = [];

    public MatMul(WorkerPool pool)
    {
        ArgumentNullException.ThrowIfNull(pool);
        Pool = pool;
    }

    public WorkerPool Pool { get; }

    /// <summary>Output rows per unit of work; 0 (the default) picks 16–64 from the shape and thread count.</summary>
    public int ChunkRows
    {
        get;
        init
        {
            ArgumentOutOfRangeException.ThrowIfNegative(value);
            field = value;
        }
    }

    /// <summary>y [nTokens, rows] = x [nTokens, cols] · Wᵀ with W [rows, cols] of type <paramref name="type"/>;
    /// nTokens = x.Length / cols.</summary>
    public void Multiply(GgmlType type, ReadOnlySpan<byte> weights, int rows, int cols, ReadOnlySpan<float> x, Span<float> y) =>
        Multiply(QuantTypes.Get(type), weights, rows, cols, x, y);

    /// <inheritdoc cref="Multiply(GgmlType, ReadOnlySpan{byte}, int, int, ReadOnlySpan{float}, Span{float})"/>
    public void Multiply(QuantType type, ReadOnlySpan<byte> weights, int rows, int cols, ReadOnlySpan<float> x, Span<float> y)
    {
        ArgumentNullException.ThrowIfNull(type);
        ArgumentOutOfRangeException.ThrowIfNegative(rows);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(cols);
        if (weights.Length != type.RowBytes(cols) * rows)
            throw new ArgumentException($"weights hold {weights.Length} bytes, a [{rows}, {cols}] {type.Type} matrix needs {type.RowBytes(cols) * rows}", nameof(weights));
        fixed (byte* w = weights)
            Multiply(type, w, rows, cols, x, y);
    }

    /// <summary>As the span overload, for weights anywhere in memory (e.g. a mapped tensor larger than 2 GB):
    /// row r starts at <paramref name="weights"/> + r × <see cref="QuantType.RowBytes"/>(cols). The memory must stay
    /// valid and unmoved during the call.</summary>
    public void Multiply(QuantType type, byte* weights, int rows, int cols, ReadOnlySpan<float> x, Span<float> y)
    {
        ArgumentNullException.ThrowIfNull(type);
        var nTokens = Tokens(type.Type, type.BlockSize, rows, cols, x, y);
        var dot = type.Dot ?? throw new NotSupportedException($"no dot product for {type.Type} weights");
        if (rows == 0 || nTokens == 0)
            return;

        fixed (float* xp = x)
        fixed (float* yp = y)
        {
            var job = new RowChunkJob
            {
                Weights = weights,
                RowBytes = checked((int)type.RowBytes(cols)),
                Rows = rows,
                Output = yp,
                Tokens = nTokens,
                Dot = dot,
            };

            if (type.DotActivation == GgmlType.F32)
            {
                // F32 activations are the input itself: nothing to quantize.
                job.Activations = (byte*)xp;
                job.ActivationRowBytes = checked(cols * sizeof(float));
            }
            else
            {
                var activation = QuantTypes.Get(type.DotActivation);
                job.ActivationRowBytes = checked((int)QuantizeActivations(activation, xp, cols, nTokens));
                job.Activations = (byte*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(_activations)); // pinned array
            }

            job.TokenTile = Math.Clamp(ActivationTileBytes / job.ActivationRowBytes, 1, nTokens);
            if (type.DotMulti is { } multi && type.DotMultiTokens is > 0 and <= MaxGroupTokens && nTokens >= type.DotMultiTokens)
            {
                // Whole multiples of the kernel's width, so only the call's last few tokens take the single-row dot.
                var width = type.DotMultiTokens;
                job.Multi = multi;
                job.GroupTokens = Math.Clamp(ActivationGroupBytes / job.ActivationRowBytes / width, 1, MaxGroupTokens / width) * width;
                job.TokenTile = Math.Max(job.TokenTile / width, 1) * width;
                job.MultiTokens = width;
            }

            job.ChunkRows = ChunkRows > 0 ? ChunkRows : AutoChunkRows(rows, Pool.ThreadCount);
            var chunks = (rows + job.ChunkRows - 1) / job.ChunkRows;
            Pool.Run(ref job, chunks, (long)job.RowBytes * rows + (long)job.ActivationRowBytes * nTokens * chunks);
        }
    }

    /// <summary>
    /// Several products of one activation matrix in a single pool pass (grouped Mixture-of-Experts): the rows of
    /// x [n, cols] are quantized once, then each segment multiplies its token rows [TokenStart, TokenStart + Tokens)
    /// by its own [Rows, cols] matrix of <paramref name="type"/> into its output [Tokens, Rows]. Work units are
    /// (segment, row chunk) pairs, so every selected expert's weights are read once and all threads share them. With
    /// <paramref name="repacked"/>, every segment's matrix is in the type's <see cref="QuantType.Repacked"/> layout
    /// (<see cref="QuantType.RepackedBytes"/> long) and each gets the bits <see cref="MultiplyRepacked"/> gives it.
    /// </summary>
    public void MultiplyGrouped(QuantType type, int cols, ReadOnlySpan<float> x, ReadOnlySpan<MatMulSegment> segments, bool repacked = false)
    {
        ArgumentNullException.ThrowIfNull(type);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(cols);
        if (cols % type.BlockSize != 0)
            throw new ArgumentException($"row length {cols} is not a multiple of the {type.Type} block size {type.BlockSize}", nameof(cols));
        if (x.Length % cols != 0)
            throw new ArgumentException($"activations hold {x.Length} floats, not a whole number of rows of {cols}", nameof(x));
        int nTokens = x.Length / cols;
        var dot = type.Dot ?? throw new NotSupportedException($"no dot product for {type.Type} weights");
        if (segments.IsEmpty || nTokens == 0)
            return;
        CheckSegments(segments, nTokens);
        if (repacked)
        {
            MultiplyGroupedRepacked(type, cols, x, segments, nTokens);
            return;
        }

        int chunkRows = ChunkRows > 0 ? ChunkRows : AutoChunkRows(segments[0].Rows, Pool.ThreadCount);
        if (_firstUnit.Length < segments.Length + 1)
            _firstUnit = new int[segments.Length + 1];
        var firstUnit = _firstUnit.AsSpan(0, segments.Length + 1);
        firstUnit[0] = 0;
        long bytes = 0;
        for (int s = 0; s < segments.Length; s++)
        {
            var seg = segments[s];
            firstUnit[s + 1] = firstUnit[s] + (seg.Tokens == 0 ? 0 : (seg.Rows + chunkRows - 1) / chunkRows);
            bytes += type.RowBytes(cols) * seg.Rows;
        }

        fixed (float* xp = x)
        fixed (MatMulSegment* sp = segments)
        fixed (int* units = firstUnit)
        {
            var template = new RowChunkJob { RowBytes = checked((int)type.RowBytes(cols)), Dot = dot, ChunkRows = chunkRows };
            if (type.DotActivation == GgmlType.F32)
            {
                template.Activations = (byte*)xp;
                template.ActivationRowBytes = checked(cols * sizeof(float));
            }
            else
            {
                template.ActivationRowBytes = checked((int)QuantizeActivations(QuantTypes.Get(type.DotActivation), xp, cols, nTokens));
                template.Activations = (byte*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(_activations)); // pinned array
            }

            var job = new GroupedJob { Template = template, Segments = sp, FirstUnit = units, Count = segments.Length, Type = type };
            Pool.Run(ref job, firstUnit[^1], bytes);
        }
    }

    /// <summary>Checks that the segments of <see cref="MultiplyGrouped"/> take token rows within nTokens.</summary>
    private static void CheckSegments(ReadOnlySpan<MatMulSegment> segments, int nTokens)
    {
        for (int s = 0; s < segments.Length; s++)
        {
            var seg = segments[s];
            if (seg.TokenStart < 0 || seg.Tokens < 0 || seg.TokenStart + seg.Tokens > nTokens || seg.Rows < 0)
                throw new ArgumentException($"segment {s} covers tokens [{seg.TokenStart}, {seg.TokenStart + seg.Tokens}) of {nTokens}", nameof(segments));
        }
    }

    /// <summary><see cref="MultiplyGrouped"/> over repacked matrices: units are (segment, chunk of row groups) pairs.</summary>
    private void MultiplyGroupedRepacked(QuantType type, int cols, ReadOnlySpan<float> x, ReadOnlySpan<MatMulSegment> segments, int nTokens)
    {
        var layout = type.Repacked ?? throw new NotSupportedException($"{type.Type} has no repacked layout");
        int chunkGroups = Math.Max(1, AutoChunkRows(segments[0].Rows, Pool.ThreadCount) / layout.GroupRows);
        if (_firstUnit.Length < segments.Length + 1)
            _firstUnit = new int[segments.Length + 1];
        var firstUnit = _firstUnit.AsSpan(0, segments.Length + 1);
        firstUnit[0] = 0;
        long bytes = 0;
        for (int s = 0; s < segments.Length; s++)
        {
            var seg = segments[s];
            var groups = layout.Groups(seg.Rows);
            firstUnit[s + 1] = firstUnit[s] + (seg.Tokens == 0 ? 0 : (groups + chunkGroups - 1) / chunkGroups);
            bytes += seg.Tokens == 0 ? 0 : type.RepackedBytes(seg.Rows, cols);
        }

        fixed (float* xp = x)
        fixed (MatMulSegment* sp = segments)
        fixed (int* units = firstUnit)
        {
            var template = PrepareRepacked(type, layout, xp, cols, nTokens, chunkGroups);
            var job = new RepackedGroupedJob { Template = template, Segments = sp, FirstUnit = units };
            Pool.Run(ref job, firstUnit[^1], bytes + (long)template.ActivationRowBytes * nTokens);
        }
    }

    /// <summary>
    /// Quantizes the nTokens rows of x (with the layout's activation offsets) and returns a <see cref="RepackedJob"/>
    /// holding everything but the weights, rows, tokens and output of one product.
    /// </summary>
    private RepackedJob PrepareRepacked(QuantType type, RepackedLayout layout, float* x, int cols, int nTokens, int chunkGroups)
    {
        var activation = QuantTypes.Get(type.DotActivation);
        var offsetBlocks = layout.Offsets is null ? 0 : cols / activation.BlockSize;
        if (_offsets.Length < (long)offsetBlocks * nTokens)
            _offsets = GC.AllocateUninitializedArray<int>(checked(offsetBlocks * nTokens), pinned: true);
        var offsets = (int*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(_offsets)); // pinned array
        var activationRowBytes = checked((int)QuantizeActivations(activation, x, cols, nTokens, layout.Offsets, offsets));
        return new RepackedJob
        {
            Layout = layout,
            GroupBytes = layout.GroupBytes(cols / type.BlockSize),
            ChunkGroups = chunkGroups,
            Activations = (byte*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(_activations)), // pinned array
            ActivationRowBytes = activationRowBytes,
            Offsets = offsets,
            OffsetBlocks = offsetBlocks,
            GroupTokens = Math.Clamp(ActivationGroupBytes / activationRowBytes / 4, 1, MaxGroupTokens / 4) * 4,
        };
    }

    /// <summary>
    /// y [nTokens, rows] = x [nTokens, cols] · Wᵀ for a matrix W [rows, cols] of <paramref name="type"/> in its
    /// <see cref="QuantType.Repacked"/> layout at <paramref name="weights"/> (<see cref="QuantType.RepackedBytes"/>
    /// long). The pool takes chunks of row groups; a chunk meets the tokens a group of tokens at a time.
    /// </summary>
    public void MultiplyRepacked(QuantType type, byte* weights, int rows, int cols, ReadOnlySpan<float> x, Span<float> y)
    {
        ArgumentNullException.ThrowIfNull(type);
        var layout = type.Repacked ?? throw new NotSupportedException($"{type.Type} has no repacked layout");
        var nTokens = Tokens(type.Type, type.BlockSize, rows, cols, x, y);
        if (rows == 0 || nTokens == 0)
            return;

        fixed (float* xp = x)
        fixed (float* yp = y)
        {
            var job = PrepareRepacked(type, layout, xp, cols, nTokens, Math.Max(1, AutoChunkRows(rows, Pool.ThreadCount) / layout.GroupRows));
            job.Weights = weights;
            job.Rows = rows;
            job.Tokens = nTokens;
            job.Output = yp;
            var chunks = (layout.Groups(rows) + job.ChunkGroups - 1) / job.ChunkGroups;
            Pool.Run(ref job, chunks, type.RepackedBytes(rows, cols) + (long)job.ActivationRowBytes * nTokens * chunks);
        }
    }

    /// <summary>Checks x [nTokens, cols] and y [nTokens, rows] for rows of whole <paramref name="type"/> blocks; returns nTokens.</summary>
    private static int Tokens(GgmlType type, int blockSize, int rows, int cols, ReadOnlySpan<float> x, Span<float> y)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(rows);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(cols);
        if (cols % blockSize != 0)
            throw new ArgumentException($"row length {cols} is not a multiple of the {type} block size {blockSize}", nameof(cols));
        if (x.Length % cols != 0)
            throw new ArgumentException($"activations hold {x.Length} floats, not a whole number of rows of {cols}", nameof(x));
        var nTokens = x.Length / cols;
        if (y.Length != (long)nTokens * rows)
            throw new ArgumentException($"output holds {y.Length} floats, [{nTokens}, {rows}] needs {(long)nTokens * rows}", nameof(y));
        return nTokens;
    }

    /// <summary>Quantizes the nTokens rows of x into <see cref="_activations"/>; returns the bytes per row. With
    /// <paramref name="offsetsOf"/>, also each row's offsets into <paramref name="offsets"/>.</summary>
    private long QuantizeActivations(QuantType activation, float* x, int cols, int nTokens, ActivationOffsets? offsetsOf = null, int* offsets = null)
    {
        var fromFloat = activation.FromFloat ?? throw new NotSupportedException($"no quantizer for activation type {activation.Type}");
        if (cols % activation.BlockSize != 0)
            throw new ArgumentException($"row length {cols} is not a multiple of the {activation.Type} block size {activation.BlockSize}", nameof(cols));
        var rowBytes = activation.RowBytes(cols);
        var needed = rowBytes * nTokens;
        if (_activations.Length < needed)
            _activations = GC.AllocateUninitializedArray<byte>(checked((int)needed), pinned: true);

        var job = new QuantizeJob
        {
            Input = x,
            Cols = cols,
            Output = (byte*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(_activations)),
            RowBytes = (int)rowBytes,
            FromFloat = fromFloat,
            OffsetsOf = offsetsOf,
            Offsets = offsets,
            Blocks = cols / activation.BlockSize,
        };
        Pool.Run(ref job, nTokens, (long)cols * sizeof(float) * nTokens);
        return rowBytes;
    }

    // Enough chunks per thread to even out uneven progress, each a multiple of 16 rows (whole cache lines of y).
    private static int AutoChunkRows(int rows, int threads) => Math.Clamp(rows / (threads * 4) / 16 * 16, 16, 64);

    private struct RowChunkJob : IParallelJob
    {
        public byte* Weights;
        public int RowBytes;
        public int Rows;
        public int ChunkRows;
        public byte* Activations;
        public int ActivationRowBytes;
        public int Tokens;
        public int TokenTile;
        public float* Output;
        public DotRow Dot;
        public DotRows? Multi;
        public int MultiTokens;
        public int GroupTokens;

        /// <summary>Sets how tokens are tiled for <see cref="Tokens"/> tokens (multi-token kernels when there are enough).</summary>
        public void Tile(QuantType type)
        {
            TokenTile = Math.Clamp(ActivationTileBytes / ActivationRowBytes, 1, Tokens);
            Multi = null;
            if (type.DotMulti is { } multi && type.DotMultiTokens is > 0 and <= MaxGroupTokens && Tokens >= type.DotMultiTokens)
            {
                var width = type.DotMultiTokens;
                Multi = multi;
                GroupTokens = Math.Clamp(ActivationGroupBytes / ActivationRowBytes / width, 1, MaxGroupTokens / width) * width;
                TokenTile = Math.Max(TokenTile / width, 1) * width;
                MultiTokens = width;
            }
        }

        [SkipLocalsInit]
        public readonly void Execute(int chunk)
        {
            var r0 = chunk * ChunkRows;
            var r1 = Math.Min(r0 + ChunkRows, Rows);
            Span<float> results = Multi is null ? default : stackalloc float[MultiRows * MaxGroupTokens]; // [rows, tokens] of one multi call
            for (var t0 = 0; t0 < Tokens; t0 += TokenTile)
            {
                var t1 = Math.Min(t0 + TokenTile, Tokens);
                var t = t0;
                if (Multi is not null)
                {
                    // Token groups outer, rows inner: a group's activations stay in L1, the chunk's rows in L2.
                    while (t1 - t >= MultiTokens)
                    {
                        var n = Math.Min(GroupTokens, (t1 - t) / MultiTokens * MultiTokens);
                        var activations = new ReadOnlySpan<byte>(Activations + (long)t * ActivationRowBytes, n * ActivationRowBytes);
                        for (var rb = r0; rb < r1; rb += MultiRows)
                        {
                            var nr = Math.Min(MultiRows, r1 - rb);
                            var tile = results[..(nr * n)];
                            Multi(new ReadOnlySpan<byte>(Weights + (long)rb * RowBytes, nr * RowBytes), nr, activations, tile);
                            for (var j = 0; j < n; j++)
                            {
                                var y = Output + (long)(t + j) * Rows + rb; // y [nTokens, rows]
                                for (var i = 0; i < nr; i++)
                                    y[i] = tile[i * n + j];
                            }
                        }

                        t += n;
                    }
                }

                for (var r = r0; r < r1 && t < t1; r++)
                {
                    var row = new ReadOnlySpan<byte>(Weights + (long)r * RowBytes, RowBytes);
                    for (var tt = t; tt < t1; tt++)
                    {
                        var activation = new ReadOnlySpan<byte>(Activations + (long)tt * ActivationRowBytes, ActivationRowBytes);
                        Output[(long)tt * Rows + r] = Dot(row, activation); // y [nTokens, rows]
                    }
                }
            }
        }
    }

    /// <summary>Units of <see cref="MultiplyGrouped"/>: unit u is a row chunk of the segment whose units it falls in.</summary>
    private struct GroupedJob : IParallelJob
    {
        public RowChunkJob Template;
        public MatMulSegment* Segments;
        public int* FirstUnit;
        public int Count;
        public QuantType Type;

        public readonly void Execute(int unit)
        {
            int s = 0;
            while (FirstUnit[s + 1] <= unit)
                s++;
            var seg = Segments[s];
            var job = Template;
            job.Weights = seg.Weights;
            job.Rows = seg.Rows;
            job.Tokens = seg.Tokens;
            job.Activations += (long)seg.TokenStart * job.ActivationRowBytes;
            job.Output = seg.Output;
            job.Tile(Type);
            job.Execute(unit - FirstUnit[s]);
        }
    }

    private struct QuantizeJob : IParallelJob
    {
        public float* Input;
        public int Cols;
        public byte* Output;
        public int RowBytes;
        public QuantizeRow FromFloat;
        public ActivationOffsets? OffsetsOf;
        public int* Offsets;
        public int Blocks;

        public readonly void Execute(int token)
        {
            var row = new Span<byte>(Output + (long)token * RowBytes, RowBytes);
            FromFloat(new ReadOnlySpan<float>(Input + (long)token * Cols, Cols), row);
            OffsetsOf?.Invoke(row, new Span<int>(Offsets + (long)token * Blocks, Blocks));
        }
    }

    private struct RepackedJob : IParallelJob
    {
        public RepackedLayout Layout;
        public byte* Weights;
        public long GroupBytes;
        public int Rows;
        public int ChunkGroups;
        public byte* Activations;
        public int ActivationRowBytes;
        public int* Offsets;
        public int OffsetBlocks;
        public int Tokens;
        public int GroupTokens;
        public float* Output;

        public readonly void Execute(int chunk)
        {
            var g0 = chunk * ChunkGroups;
            var rows = Math.Min(Rows - g0 * Layout.GroupRows, ChunkGroups * Layout.GroupRows);
            var groups = new ReadOnlySpan<byte>(Weights + g0 * GroupBytes, checked((int)(Layout.Groups(rows) * GroupBytes)));
            // Token groups outer, row groups inner: a token group's activations stay in L1, the chunk's rows in L2.
            for (var t0 = 0; t0 < Tokens; t0 += GroupTokens)
            {
                var n = Math.Min(GroupTokens, Tokens - t0);
                Layout.Dot(groups, rows,
                    new ReadOnlySpan<byte>(Activations + (long)t0 * ActivationRowBytes, n * ActivationRowBytes),
                    new ReadOnlySpan<int>(Offsets + (long)t0 * OffsetBlocks, n * OffsetBlocks),
                    new Span<float>(Output + (long)t0 * Rows + g0 * Layout.GroupRows, (n - 1) * Rows + rows), Rows);
            }
        }
    }

    /// <summary>Units of <see cref="MultiplyGroupedRepacked"/>: unit u is a chunk of row groups of the segment whose units it falls in.</summary>
    private struct RepackedGroupedJob : IParallelJob
    {
        public RepackedJob Template;
        public MatMulSegment* Segments;
        public int* FirstUnit;

        public readonly void Execute(int unit)
        {
            int s = 0;
            while (FirstUnit[s + 1] <= unit)
                s++;
            var seg = Segments[s];
            var job = Template;
            job.Weights = seg.Weights;
            job.Rows = seg.Rows;
            job.Tokens = seg.Tokens;
            job.Activations += (long)seg.TokenStart * job.ActivationRowBytes;
            job.Offsets += (long)seg.TokenStart * job.OffsetBlocks;
            job.Output = seg.Output;
            job.Execute(unit - FirstUnit[s]);
        }
    }

    /// <summary>Plain single-threaded reference: dequantizes each weight row and takes float dot products with the
    /// unquantized activations (accumulated in double). For tests.</summary>
    public static void Reference(GgmlType type, ReadOnlySpan<byte> weights, int rows, int cols, ReadOnlySpan<float> x, Span<float> y) =>
        Reference(QuantTypes.Get(type), weights, rows, cols, x, y);

    /// <inheritdoc cref="Reference(GgmlType, ReadOnlySpan{byte}, int, int, ReadOnlySpan{float}, Span{float})"/>
    public static void Reference(QuantType type, ReadOnlySpan<byte> weights, int rows, int cols, ReadOnlySpan<float> x, Span<float> y)
    {
        ArgumentNullException.ThrowIfNull(type);
        var rowBytes = checked((int)type.RowBytes(cols));
        var nTokens = x.Length / cols;
        if (weights.Length != (long)rowBytes * rows || x.Length != nTokens * cols || y.Length != nTokens * rows)
            throw new ArgumentException("shapes do not match");
        var row = new float[cols];
        for (var r = 0; r < rows; r++)
        {
            type.ToFloat(weights.Slice(r * rowBytes, rowBytes), row);
            for (var t = 0; t < nTokens; t++)
            {
                var xt = x.Slice(t * cols, cols);
                double sum = 0;
                for (var i = 0; i < cols; i++)
                    sum += (double)row[i] * xt[i];
                y[t * rows + r] = (float)sum;
            }
        }
    }
}

/// <summary>One product of <see cref="MatMul.MultiplyGrouped"/>: a [Rows, cols] weight matrix, the token rows it
/// takes from the shared activations, and its output [Tokens, Rows].</summary>
public unsafe struct MatMulSegment
{
    public byte* Weights;
    public int Rows;
    public int TokenStart;
    public int Tokens;
    public float* Output;
}
