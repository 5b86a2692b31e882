using System.Buffers.Binary;
using System.IO.Hashing;
using System.Runtime.InteropServices;
using Tern.Models;

namespace Tern.Runtime.Serving;

/// <summary>
/// What a block record says about its block: its prefix-cache key, its parent's key, its tokens, which KV groups
/// hold it (a sliding-window group may have let it go: a hole) and the bytes of its body.
/// </summary>
/// <param name="Checkpoint">The body ends with a recurrent checkpoint: the recurrent layers' state after the block's
/// last token (<see cref="RecurrentCache.State"/>), for models with recurrent layers.</param>
public sealed record BlockHeader(ulong Hash, ulong Parent, int[] Tokens, bool[] Groups, bool Checkpoint, long BodyBytes);

/// <summary>
/// One KV block as bytes, the unit of the disk prefix cache (a file each) and of any longer stream of blocks:
/// the magic <c>TERNKVB\0</c>, the format version, the layout (<see cref="Layout"/>: the model's identity, the KV
/// types, tokens per block and every group's window and layer shapes; a record of another layout is never read
/// further), the block's key and its parent's, its tokens, a byte per KV group (1: held, 0: a hole), a byte for the
/// checkpoint (1: the body ends with one), the body's length, the body (each held group's block as
/// <see cref="KvCache.ExportBlock"/> writes it, in group order, then the checkpoint's floats) and an XxHash128 of
/// everything before it. Integers are little-endian.
/// </summary>
public static class BlockRecord
{
    public const int Version = 1;
    private const int MaxTokens = 1 << 16, MaxGroups = 64, MaxLayout = 1 << 16;

    public static ReadOnlySpan<byte> Magic => "TERNKVB\0"u8;

    /// <summary>The identity of a model: an XxHash128 of the bytes before the tensor data (header, metadata, tensor
    /// table) of every part of its file.</summary>
    public static UInt128 ModelIdentity(Tern.Gguf.GgufFile file)
    {
        var hash = new XxHash128();
        foreach (var part in file.Parts)
            hash.Append(part.HeaderBytes);
        return hash.GetCurrentHashAsUInt128();
    }

    /// <summary>The layout bytes records of blocks of <paramref name="state"/> carry: records are read only into the
    /// same layout.</summary>
    public static byte[] Layout(UInt128 model, StateCache state)
    {
        var words = new List<long> { (long)(ulong)(model >> 64), (long)(ulong)model, (int)state.KeyType, (int)state.ValueType, state.BlockTokens, state.Recurrent?.SlotFloats ?? 0, state.Groups.Count };
        foreach (var group in state.Groups)
        {
            words.Add(group.Window);
            words.Add(group.Cache.Layers);
            for (int l = 0; l < group.Cache.Layers; l++)
            {
                words.Add(group.Cache.Layer(l).Shape.KvHeads);
                words.Add(group.Cache.Layer(l).Shape.HeadDim);
            }
        }

        var bytes = new byte[words.Count * sizeof(long)];
        for (int i = 0; i < words.Count; i++)
            BinaryPrimitives.WriteInt64LittleEndian(bytes.AsSpan(i * sizeof(long)), words[i]);
        return bytes;
    }

    /// <summary>Bytes of the body of a block held by <paramref name="groups"/> of <paramref name="state"/>, with or
    /// without a recurrent checkpoint.</summary>
    public static long BodyBytes(StateCache state, ReadOnlySpan<bool> groups, bool checkpoint)
    {
        long bytes = checkpoint ? state.Recurrent?.SlotBytes ?? throw new ArgumentException("no recurrent state to checkpoint", nameof(checkpoint)) : 0;
        for (int g = 0; g < groups.Length; g++)
        {
            if (groups[g])
                bytes += state.Groups[g].Cache.BlockBytes;
        }

        return bytes;
    }

    /// <summary>Writes one record.</summary>
    public static void Write(Stream stream, ReadOnlySpan<byte> layout, BlockHeader header, ReadOnlySpan<byte> body)
    {
        if (body.Length != header.BodyBytes)
            throw new ArgumentException($"the body is {body.Length} bytes, the header says {header.BodyBytes}", nameof(body));
        var checksum = new XxHash128();
        var word = new byte[8];
        void Put(ReadOnlySpan<byte> bytes)
        {
            stream.Write(bytes);
            checksum.Append(bytes);
        }

        void PutLong(long value)
        {
            BinaryPrimitives.WriteInt64LittleEndian(word, value);
            Put(word);
        }

        Put(Magic);
        PutLong(Version);
        PutLong(layout.Length);
        Put(layout);
        PutLong((long)header.Hash);
        PutLong((long)header.Parent);
        PutLong(header.Tokens.Length);
        Put(MemoryMarshal.AsBytes(header.Tokens.AsSpan())); // little-endian machines only, as the KV bytes themselves
        PutLong(header.Groups.Length);
        foreach (bool held in header.Groups)
            Put([held ? (byte)1 : (byte)0]);
        Put([header.Checkpoint ? (byte)1 : (byte)0]);
        PutLong(body.Length);
        Put(body);
        stream.Write(checksum.GetCurrentHash());
    }

    /// <summary>Reads records one after another from a stream.</summary>
    public sealed class Reader(Stream stream, byte[] layout)
    {
        private readonly XxHash128 _checksum = new();
        private BlockHeader? _header;

        /// <summary>The next record's header; null when it was written for another layout (another model, KV type
        /// or block size), whose body must not be read.</summary>
        /// <exception cref="InvalidDataException">Not a block record, or cut short.</exception>
        public BlockHeader? ReadHeader()
        {
            _checksum.Reset();
            _header = null;
            Span<byte> magic = stackalloc byte[8];
            Take(magic);
            if (!magic.SequenceEqual(Magic))
                throw new InvalidDataException("not a Tern KV block record (bad magic)");
            if (TakeLong() != Version)
                return null;
            long layoutBytes = TakeLong();
            if (layoutBytes != layout.Length)
                return layoutBytes is >= 0 and <= MaxLayout ? null : throw new InvalidDataException($"bad layout length {layoutBytes}");
            var theirs = new byte[layoutBytes];
            Take(theirs);
            if (!theirs.AsSpan().SequenceEqual(layout))
                return null;
            ulong hash = (ulong)TakeLong(), parent = (ulong)TakeLong();
            long count = TakeLong();
            if (count is < 1 or > MaxTokens)
                throw new InvalidDataException($"bad token count {count}");
            var tokens = new int[count];
            Take(MemoryMarshal.AsBytes(tokens.AsSpan()));
            long groupCount = TakeLong();
            if (groupCount is < 1 or > MaxGroups)
                throw new InvalidDataException($"bad group count {groupCount}");
            var groups = new bool[groupCount];
            Span<byte> flag = stackalloc byte[1];
            for (int g = 0; g < groups.Length; g++)
                groups[g] = TakeFlag(flag);
            bool checkpoint = TakeFlag(flag);
            long body = TakeLong();
            if (body < 0)
                throw new InvalidDataException($"bad body length {body}");
            return _header = new BlockHeader(hash, parent, tokens, groups, checkpoint, body);
        }

        private bool TakeFlag(Span<byte> flag)
        {
            Take(flag);
            return flag[0] switch { 0 => false, 1 => true, _ => throw new InvalidDataException("bad flag") };
        }

        /// <summary>Reads the body of the record whose header was just read, and checks the record's checksum.</summary>
        /// <exception cref="InvalidDataException">The checksum does not match (the record is damaged), or it is cut short.</exception>
        public void ReadBody(Span<byte> body)
        {
            if (_header is null || body.Length != _header.BodyBytes)
                throw new InvalidOperationException($"read a header first and give a body of its {_header?.BodyBytes} bytes");
            Take(body);
            Span<byte> expected = stackalloc byte[16], stored = stackalloc byte[16];
            _checksum.GetCurrentHash(expected);
            _header = null;
            Take(stored);
            if (!expected.SequenceEqual(stored))
                throw new InvalidDataException("checksum mismatch: the block record is damaged");
        }

        private void Take(Span<byte> bytes)
        {
            try
            {
                stream.ReadExactly(bytes);
            }
            catch (EndOfStreamException e)
            {
                throw new InvalidDataException("the block record is cut short", e);
            }

            _checksum.Append(bytes);
        }

        private long TakeLong()
        {
            Span<byte> word = stackalloc byte[8];
            Take(word);
            return BinaryPrimitives.ReadInt64LittleEndian(word);
        }
    }
}
