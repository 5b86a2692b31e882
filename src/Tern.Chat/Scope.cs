namespace Tern.Chat;

/// <summary>
/// Variables visible at one point of a template. Jinja2's scoping: each for-loop iteration, macro call, block set,
/// filter block and with block gets a child scope whose assignments do not leak out; if blocks share their parent's.
/// Most scopes hold a handful of names (a loop iteration has two), so they are small arrays searched linearly.
/// </summary>
internal sealed class Scope(Scope? parent)
{
    private string[] _names = [];
    private Value[] _values = [];
    private int _count;

    public Scope? Parent { get; } = parent;

    public bool TryGet(string name, out Value value)
    {
        for (var scope = this; scope is not null; scope = scope.Parent)
        {
            int index = scope.IndexOf(name);
            if (index >= 0)
            {
                value = scope._values[index];
                return true;
            }
        }
        value = null!;
        return false;
    }

    public void Set(string name, Value value)
    {
        int index = IndexOf(name);
        if (index >= 0)
        {
            _values[index] = value;
            return;
        }
        if (_count == _names.Length)
        {
            int capacity = Math.Max(4, _count * 2);
            Array.Resize(ref _names, capacity);
            Array.Resize(ref _values, capacity);
        }
        _names[_count] = name;
        _values[_count++] = value;
    }

    private int IndexOf(string name)
    {
        for (int i = _count - 1; i >= 0; i--)
        {
            if (string.Equals(_names[i], name, StringComparison.Ordinal))
                return i;
        }
        return -1;
    }
}
