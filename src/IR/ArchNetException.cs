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
