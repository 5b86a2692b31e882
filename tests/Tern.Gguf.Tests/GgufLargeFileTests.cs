namespace Tern.Gguf.Tests;

/// <summary>
/// Lengths that fit in a file over 2 GiB but not in a span or a .NET array. The files are sparse: only the header
/// is written, the rest reads as zeros and takes no disk space.
/// </summary>
public sealed class GgufLargeFileTests : IDisposable
{
    private const long FileLength = (1L << 31) + (1 << 20);
    private readonly TempDirectory _temp = new();

    public void Dispose() => _temp.Dispose();

    private string WriteSparse(RawGguf header)
    {
        string path = _temp.File("large.gguf");
        using var stream = new FileStream(path, FileMode.Create, FileAccess.Write);
        stream.Write(header.ToArray());
        stream.SetLength(FileLength);
        return path;
    }

    [Fact]
    public void String_longer_than_2GiB_is_rejected_not_truncated_to_a_negative_span_length()
    {
        ulong length = (1UL << 31) + 100;
        var raw = new RawGguf().Header(3, 0, 1).Key("general.description", GgufValueType.String);
        long at = raw.Position;
        raw.U64(length);
        GgufAssert.Rejects(WriteSparse(raw), at, $"metadata 'general.description' is {length} bytes long, more than the 2147483647 allowed");
    }

    [Fact]
    public void Array_with_more_elements_than_a_dotnet_array_can_hold_is_rejected_before_allocating()
    {
        var raw = new RawGguf().Header(3, 0, 1).Key("flags", GgufValueType.Array).U32((uint)GgufValueType.Bool);
        long at = raw.Position;
        raw.U64(1UL << 31); // the zeros that follow are valid bools
        GgufAssert.Rejects(WriteSparse(raw), at, "metadata 'flags' element count 2147483648 is more than an array can hold");
    }

    [Fact]
    public void Numeric_array_over_2GiB_is_rejected()
    {
        var raw = new RawGguf().Header(3, 0, 1).Key("ids", GgufValueType.Array).U32((uint)GgufValueType.UInt32).U64((1UL << 29) + 1);
        long at = raw.Position;
        GgufAssert.Rejects(WriteSparse(raw), at, "metadata 'ids' is 2147483652 bytes, more than the 2 GiB a metadata value may have");
    }
}
