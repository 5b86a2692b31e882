namespace Tern.Gguf;

/// <summary>
/// One tensor's entry in the GGUF header. <see cref="Dimensions"/> is ggml's ne: Dimensions[0] is the row length
/// (the contiguous axis). <see cref="Offset"/> is relative to the start of the data section.
/// </summary>
public sealed record GgufTensorInfo(string Name, long[] Dimensions, GgmlType Type, ulong Offset)
{
    public long ElementCount { get; } = Product(Dimensions);

    public long RowLength => Dimensions[0];

    public long RowCount => Dimensions.Length == 0 || Dimensions[0] == 0 ? 0 : ElementCount / Dimensions[0];

    public long RowBytes => GgmlTypeSizes.RowBytes(Type, RowLength);

    public long ByteCount => RowBytes * RowCount;

    public string Shape => "[" + string.Join(", ", Dimensions) + "]";

    private static long Product(long[] dims)
    {
        long n = 1;
        foreach (var d in dims)
            n = checked(n * d);
        return n;
    }
}
