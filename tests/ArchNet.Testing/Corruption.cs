using ArchNet.IR;

namespace ArchNet.Testing;

/// <summary>
/// Hostile inputs for the "one line, never a stack trace" tests: seeded corruptions of a file's bytes, and the verdict
/// on what the code under test did with one.
/// </summary>
public static class Corruption
{
    /// <summary>
    /// <paramref name="original"/> with 1 to <paramref name="maxEdits"/> edits chosen by <paramref name="seed"/>: a bit
    /// flipped, a byte inserted or deleted, or the rest cut off. Edits land below <paramref name="within"/> (the part
    /// where a format keeps its structure) half the time, anywhere otherwise.
    /// </summary>
    public static byte[] Bytes(byte[] original, int seed, int maxEdits = 3, int within = int.MaxValue)
    {
        var rng = new Random(seed);
        var bytes = new List<byte>(original);
        for (var k = 0; k < 1 + rng.Next(maxEdits); k++)
        {
            if (bytes.Count == 0) break;
            var at = rng.Next(2) == 0 ? rng.Next(Math.Min(within, bytes.Count)) : rng.Next(bytes.Count);
            switch (rng.Next(4))
            {
                case 0: bytes[at] ^= (byte)(1 << rng.Next(8)); break;
                case 1: bytes.Insert(at, (byte)rng.Next(256)); break;
                case 2: bytes.RemoveAt(at); break;
                default: bytes.RemoveRange(at, bytes.Count - at); break;
            }
        }
        return [.. bytes];
    }

    /// <summary>
    /// Runs <paramref name="use"/> on one hostile input. Null when it succeeded, or was refused with an
    /// <see cref="ArchNetException"/> of one line that <paramref name="acceptable"/> (when given) accepts; otherwise
    /// what went wrong, one line with the first frame of ours. With <paramref name="listing"/>, a refusal whose first line
    /// ends with ':' may list what it refers to on the lines after it (the audit's unsupported nodes, one per line).
    /// </summary>
    public static string? Fault(Action use, Func<ArchNetException, bool>? acceptable = null, bool listing = false)
    {
        try
        {
            use();
            return null;
        }
        catch (ArchNetException e)
        {
            var lines = e.Message.Split('\n');
            var shaped = lines.Length == 1 || listing && lines[0].EndsWith(':') && lines.Skip(1).All(l => l.StartsWith("  ") || l.StartsWith('('));
            return !shaped || acceptable?.Invoke(e) == false ? $"refused as '{e.Message}'" : null;
        }
        catch (Exception e)
        {
            return $"{e.GetType().Name}: {e.Message.Split('\n')[0]} at {e.StackTrace?.Split('\n').FirstOrDefault(l => l.Contains("ArchNet"))?.Trim()}";
        }
    }
}
