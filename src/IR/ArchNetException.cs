namespace ArchNet.IR;

/// <summary>
/// An error a user can cause (bad model, bad capability file, unsupported node, ...). Its message is
/// one line written for the user; the CLI prints it without a stack trace and exits with <see cref="ExitCode"/>.
/// Everything else that is thrown is a bug.
/// </summary>
public class ArchNetException(string message, int exitCode = ExitCodes.BadInput, Exception? inner = null)
    : Exception(message, inner)
{
    public int ExitCode { get; } = exitCode;

    /// <summary>The user's setting the error is about, when it is one (the library speaks of its concepts; the CLI names
    /// its option for it).</summary>
    public Setting Setting { get; init; }

    /// <summary>The value of <see cref="Setting"/> the error is about ("seqence", "sequence=SIZE", "EightBit"), if any.</summary>
    public string? SettingValue { get; init; }
}

/// <summary>Settings a user gives the library, by concept: the CLI maps each to the option that sets it.</summary>
public enum Setting
{
    None,
    /// <summary>The size of a symbolic input dimension, by its name.</summary>
    DimensionSize,
    /// <summary>The whole static shape of an input, by its name.</summary>
    InputShape,
    /// <summary>The widths of the first and last weight layers.</summary>
    EdgeLayers,
    /// <summary>The widths of attention.</summary>
    Attention,
}

public static class ExitCodes
{
    public const int Ok = 0;
    /// <summary>The job ran but could not produce a result (e.g. nodes left unsupported).</summary>
    public const int Failed = 1;
    /// <summary>The input (model, capability file, data, options) was unusable.</summary>
    public const int BadInput = 2;
    /// <summary>A plugin failed.</summary>
    public const int PluginFailed = 3;
    /// <summary>archnetc itself failed (an exception no check anticipated): a bug to report, whatever the input (sysexits' EX_SOFTWARE).</summary>
    public const int Internal = 70;
}
