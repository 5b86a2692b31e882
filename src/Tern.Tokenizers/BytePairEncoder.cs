namespace Tern.Tokenizers;

/// <summary>
/// llama.cpp's byte-level BPE (<c>llm_tokenizer_bpe</c>): the pre-tokenizer splits the text into words, each
/// word's UTF-8 bytes are mapped to GPT-2's byte alphabet, and adjacent symbols are merged in merge-rank order
/// (ties: leftmost first) until no listed merge applies.
/// </summary>
internal sealed class BytePairEncoder
{
    private readonly Vocabulary _vocab;
    private readonly Dictionary<string, int>.AlternateLookup<ReadOnlySpan<char>> _mergeRanks;
    private readonly PreTokenizer _preTokenizer;
    private readonly bool _ignoreMerges;

    /// <param name="mergeRanks">"left right" (as stored in <c>tokenizer.ggml.merges</c>) to its rank.</param>
    public BytePairEncoder(Vocabulary vocab, Dictionary<string, int> mergeRanks, PreTokenizer preTokenizer, bool ignoreMerges)
    {
        _vocab = vocab;
        _mergeRanks = mergeRanks.GetAlternateLookup<ReadOnlySpan<char>>();
        _preTokenizer = preTokenizer;
        _ignoreMerges = ignoreMerges;
    }

    public PreTokenizer PreTokenizer => _preTokenizer;

    private struct Symbol
    {
        public int Start;
        public int Length; // characters of the mapped word = bytes; 0 once merged away
        public int Prev;
        public int Next;
    }

    private readonly record struct Bigram(int Left, int Right, int Length);

    public void Encode(string text, List<int> output)
    {
        char[] keyBuffer = [];
        foreach (var (start, length) in _preTokenizer.Split(text))
        {
            string word = ByteLevelAlphabet.Encode(text.AsSpan(start, length));
            if (keyBuffer.Length < word.Length + 1)
                keyBuffer = new char[Math.Max(word.Length + 1, 64)];
            EncodeWord(word, keyBuffer, output);
        }
    }

    private void EncodeWord(string word, char[] keyBuffer, List<int> output)
    {
        if (word.Length == 0)
            return;
        if (_ignoreMerges && _vocab.TryGetId(word, out int whole))
        {
            output.Add(whole);
            return;
        }

        var syms = new Symbol[word.Length];
        for (int i = 0; i < syms.Length; i++)
            syms[i] = new Symbol { Start = i, Length = 1, Prev = i - 1, Next = i + 1 == syms.Length ? -1 : i + 1 };

        // priority: rank, then position (both non-negative ints, so one long orders them)
        var queue = new PriorityQueue<Bigram, long>();
        for (int i = 1; i < syms.Length; i++)
            TryAddBigram(i - 1, i);

        while (queue.TryDequeue(out var bigram, out _))
        {
            ref var left = ref syms[bigram.Left];
            ref var right = ref syms[bigram.Right];
            if (left.Length == 0 || right.Length == 0 || left.Length + right.Length != bigram.Length)
                continue; // outdated: a side was merged since this pair was queued
            left.Length += right.Length;
            right.Length = 0;
            left.Next = right.Next;
            if (right.Next >= 0)
                syms[right.Next].Prev = bigram.Left;
            TryAddBigram(left.Prev, bigram.Left);
            TryAddBigram(bigram.Left, left.Next);
        }

        for (int i = 0; i != -1; i = syms[i].Next)
        {
            var piece = word.AsSpan(syms[i].Start, syms[i].Length);
            if (_vocab.TryGetId(piece, out int id))
            {
                output.Add(id);
                continue;
            }
            // llama.cpp looks each UTF-8 byte of the piece up as a one-byte token: only ASCII can match
            foreach (char c in piece)
            {
                if (c < 0x80 && _vocab.TryGetId([c], out int byteId))
                    output.Add(byteId);
            }
        }

        void TryAddBigram(int left, int right)
        {
            if (left == -1 || right == -1)
                return;
            int leftLength = syms[left].Length, rightLength = syms[right].Length;
            var key = keyBuffer.AsSpan(0, leftLength + 1 + rightLength);
            word.AsSpan(syms[left].Start, leftLength).CopyTo(key);
            key[leftLength] = ' ';
            word.AsSpan(syms[right].Start, rightLength).CopyTo(key[(leftLength + 1)..]);
            if (_mergeRanks.TryGetValue(key, out int rank))
                queue.Enqueue(new Bigram(left, right, leftLength + rightLength), ((long)rank << 32) | (uint)left);
        }
    }
}
