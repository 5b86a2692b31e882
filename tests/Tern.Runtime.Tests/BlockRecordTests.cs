using Tern.Runtime.Serving;

namespace Tern.Runtime.Tests;

/// <summary>The block record format: records follow one another in a stream; another layout or a damaged body is refused.</summary>
public sealed class BlockRecordTests
{
    private static readonly byte[] Layout = [1, 2, 3, 4, 5, 6, 7, 8];

    private static BlockHeader Header(ulong hash, int bodyBytes) =>
        new(hash, hash - 1, [.. Enumerable.Range((int)hash, 4)], [true, false], Checkpoint: false, bodyBytes);

    [Fact]
    public void Records_written_one_after_another_read_back_in_order()
    {
        using var stream = new MemoryStream();
        byte[] first = [.. Enumerable.Range(0, 100).Select(i => (byte)i)], second = [.. Enumerable.Range(0, 40).Select(i => (byte)(255 - i))];
        BlockRecord.Write(stream, Layout, Header(10, first.Length), first);
        BlockRecord.Write(stream, Layout, Header(20, second.Length), second);
        stream.Position = 0;

        var reader = new BlockRecord.Reader(stream, Layout);
        foreach (var (hash, body) in new[] { (10UL, first), (20UL, second) })
        {
            var header = reader.ReadHeader()!;
            Assert.Equal(Header(hash, body.Length) with { Tokens = header.Tokens, Groups = header.Groups }, header);
            Assert.Equal(Enumerable.Range((int)hash, 4), header.Tokens);
            Assert.Equal([true, false], header.Groups);
            var read = new byte[header.BodyBytes];
            reader.ReadBody(read);
            Assert.Equal(body, read);
        }

        Assert.Equal(stream.Length, stream.Position);
    }

    [Fact]
    public void A_record_of_another_layout_has_no_header_and_a_flipped_bit_fails_the_checksum()
    {
        using var stream = new MemoryStream();
        BlockRecord.Write(stream, Layout, Header(10, 16), new byte[16]);
        byte[] bytes = stream.ToArray();

        Assert.Null(new BlockRecord.Reader(new MemoryStream(bytes), [1, 2, 3, 4, 5, 6, 7, 9]).ReadHeader());

        bytes[^20] ^= 1; // in the body
        var reader = new BlockRecord.Reader(new MemoryStream(bytes), Layout);
        var header = reader.ReadHeader()!;
        Assert.Throws<InvalidDataException>(() => reader.ReadBody(new byte[header.BodyBytes]));
        Assert.Throws<InvalidDataException>(() => new BlockRecord.Reader(new MemoryStream(bytes[..30]), Layout).ReadHeader());
    }
}
