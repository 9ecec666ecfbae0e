using System.Globalization;
using System.Text;
using System.Text.Json;
using ArchNet.IR;

namespace ArchNet.Capabilities.Parsing;

/// <summary>Where a JSON token starts in its file, 1-based, for <c>file:line:col</c> messages.</summary>
public readonly record struct SourcePosition(string File, int Line, int Column)
{
    public override string ToString() => $"{File}:{Line}:{Column}";
}

public enum JsonKind { Object, Array, String, Number, True, False, Null }

/// <summary>
/// A parsed JSON value that remembers where it came from. System.Text.Json's DOM drops positions, and every
/// error in a capability file must name its line and column, so the loader reads this small tree instead.
/// </summary>
public sealed class PositionedJson
{
    private PositionedJson(JsonKind kind, SourcePosition position)
    {
        Kind = kind;
        Position = position;
    }

    public JsonKind Kind { get; }
    public SourcePosition Position { get; }

    /// <summary>Object members in file order, each with the position of its key.</summary>
    public IReadOnlyList<(string Key, SourcePosition KeyPosition, PositionedJson Value)> Members { get; private set; } = [];
    public IReadOnlyList<PositionedJson> Items { get; private set; } = [];
    public string? String { get; private set; }
    /// <summary>The number's text as written (kept exact; converted by the reader that knows the expected type).</summary>
    public string? NumberText { get; private set; }

    public PositionedJson? this[string key] => Members.FirstOrDefault(m => m.Key == key).Value;

    /// <summary>A short description of this value for "found ..." messages.</summary>
    public string Describe() => Kind switch
    {
        JsonKind.Object => "an object",
        JsonKind.Array => "an array",
        JsonKind.String => $"\"{String}\"",
        JsonKind.Number => NumberText!,
        JsonKind.True => "true",
        JsonKind.False => "false",
        _ => "null",
    };

    public static readonly JsonReaderOptions ReaderOptions = new()
    {
        CommentHandling = JsonCommentHandling.Skip,
        AllowTrailingCommas = true,
        MaxDepth = 64,
    };

    /// <summary>Parses <paramref name="utf8"/>; bad JSON is an <see cref="ArchNetException"/> naming file, line and column.</summary>
    public static PositionedJson Parse(ReadOnlySpan<byte> utf8, string file)
    {
        var lines = new LineMap(utf8);
        var reader = new Utf8JsonReader(utf8, ReaderOptions);
        try
        {
            if (!reader.Read()) throw new ArchNetException($"{file}:1:1: expected a JSON object, found an empty file");
            var root = ReadValue(ref reader, lines, file);
            if (reader.Read())
                throw new ArchNetException($"{lines.At(file, reader.TokenStartIndex)}: expected end of file, found more JSON");
            return root;
        }
        catch (JsonException e)
        {
            // JsonException positions are 0-based; ours are 1-based like every editor's.
            var line = (e.LineNumber ?? 0) + 1;
            var col = (e.BytePositionInLine ?? 0) + 1;
            throw new ArchNetException($"{file}:{line}:{col}: expected valid JSON, found a syntax error ({FirstSentence(e.Message)})", inner: e);
        }
    }

    private static string FirstSentence(string message)
    {
        var cut = message.IndexOf(" LineNumber:", StringComparison.Ordinal);
        return (cut > 0 ? message[..cut] : message).TrimEnd('.', ' ');
    }

    private static PositionedJson ReadValue(ref Utf8JsonReader reader, LineMap lines, string file)
    {
        var position = lines.At(file, reader.TokenStartIndex);
        switch (reader.TokenType)
        {
            case JsonTokenType.StartObject:
            {
                var members = new List<(string, SourcePosition, PositionedJson)>();
                while (reader.Read() && reader.TokenType != JsonTokenType.EndObject)
                {
                    var keyPosition = lines.At(file, reader.TokenStartIndex);
                    var key = reader.GetString()!;
                    if (members.Any(m => m.Item1 == key))
                        throw new ArchNetException($"{keyPosition}: expected each key once, found \"{key}\" again");
                    reader.Read();
                    members.Add((key, keyPosition, ReadValue(ref reader, lines, file)));
                }
                return new PositionedJson(JsonKind.Object, position) { Members = members };
            }
            case JsonTokenType.StartArray:
            {
                var items = new List<PositionedJson>();
                while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
                    items.Add(ReadValue(ref reader, lines, file));
                return new PositionedJson(JsonKind.Array, position) { Items = items };
            }
            case JsonTokenType.String:
                return new PositionedJson(JsonKind.String, position) { String = reader.GetString() };
            case JsonTokenType.Number:
                return new PositionedJson(JsonKind.Number, position)
                {
                    NumberText = Encoding.UTF8.GetString(reader.HasValueSequence ? System.Buffers.BuffersExtensions.ToArray(reader.ValueSequence) : reader.ValueSpan.ToArray()),
                };
            case JsonTokenType.True: return new PositionedJson(JsonKind.True, position);
            case JsonTokenType.False: return new PositionedJson(JsonKind.False, position);
            default: return new PositionedJson(JsonKind.Null, position);
        }
    }

    public bool TryGetLong(out long value) =>
        long.TryParse(NumberText, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out value);

    public bool TryGetDouble(out double value) =>
        double.TryParse(NumberText, NumberStyles.Float, CultureInfo.InvariantCulture, out value);

    /// <summary>Byte offsets to 1-based line and column (columns count characters, not bytes).</summary>
    private sealed class LineMap
    {
        private readonly List<int> _starts = [0];
        private readonly byte[] _text;

        public LineMap(ReadOnlySpan<byte> utf8)
        {
            _text = utf8.ToArray();
            for (var i = 0; i < utf8.Length; i++)
                if (utf8[i] == (byte)'\n') _starts.Add(i + 1);
        }

        public SourcePosition At(string file, long offset)
        {
            var index = _starts.BinarySearch((int)offset);
            var line = index >= 0 ? index : ~index - 1;
            var start = _starts[line];
            var column = Encoding.UTF8.GetCharCount(_text, start, (int)offset - start) + 1;
            return new SourcePosition(file, line + 1, column);
        }
    }
}
