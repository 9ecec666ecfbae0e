using System.Collections.Immutable;

namespace ArchNet.Capabilities;

/// <summary>
/// <c>--target a,b</c>: the capability of a chip that can do only what every named chip can do, so that one compiled
/// artifact runs on all of them. Defined as:
/// <list type="bullet">
/// <item>name "a+b" (in the order given), vendor and source joined with " + ";</item>
/// <item>ops: an op is listed when every chip lists it (by name, or by its domain's "*" wildcard); its constraints are
/// all of the chips' constraints for it, with rules on the same subject merged: ranges intersected (max of the minima,
/// min of the maxima), OneOf sets and allowed element types intersected, identical relations and constant-input rules
/// kept once, other rules kept side by side. A wildcard stays only when every chip has it;</item>
/// <item>chip-wide rules: all of them, merged the same way (the smaller tensor-size limit; an op is exempt only when
/// every chip exempts it);</item>
/// <item>numerics: common float types, bit widths, signedness, granularities, symmetries, rounding and requantization
/// modes; the smaller accumulator; power-of-two scales if any chip needs them;</item>
/// <item>cost: the slower clock and the smaller MACs per cycle (a conservative speed).</item>
/// </list>
/// An empty intersection (disjoint sets, min &gt; max) is kept, not dropped: checking then fails with the rule that
/// nothing can satisfy, which says why the chips cannot share an artifact.
/// </summary>
public static class CapabilityIntersection
{
    public static Capability Of(IReadOnlyList<Capability> chips)
    {
        if (chips.Count == 0) throw new ArgumentException("need at least one capability", nameof(chips));
        if (chips.Count == 1) return chips[0];

        var keys = chips.SelectMany(c => c.Ops.Select(o => (o.Domain, o.OpType))).Distinct()
            .OrderBy(k => k.Domain, StringComparer.Ordinal).ThenBy(k => k.OpType, StringComparer.Ordinal);
        var ops = new List<OpCapability>();
        foreach (var (domain, opType) in keys)
        {
            var entries = chips.Select(c => c.Find(domain, opType)).ToList();
            if (entries.Any(e => e is null)) continue;
            // A wildcard contributes no constraints to a named op; explicit entries do.
            var constraints = entries.Where(e => e!.OpType == opType).SelectMany(e => e!.Constraints);
            var speeds = entries.Select(e => e!.MacsPerCycle).OfType<double>().ToList();
            ops.Add(new OpCapability(opType, domain, Merge(constraints))
            {
                Description = string.Join(" | ", entries.Select(e => e!.Description).OfType<string>().Distinct()) is { Length: > 0 } d ? d : null,
                MacsPerCycle = speeds.Count == entries.Count ? speeds.Min() : null,
            });
        }

        var chipRules = Merge(chips.SelectMany(c => c.ChipConstraints));
        var numerics = chips.Skip(1).Aggregate(chips[0].Numerics, (acc, c) => acc.Intersect(c.Numerics));
        Cost? cost = chips.All(c => c.Cost is not null)
            ? new Cost(chips.Min(c => c.Cost!.ClockMHz), chips.Min(c => c.Cost!.MacsPerCycle))
            : null;
        return new Capability(
            string.Join("+", chips.Select(c => c.Name)),
            string.Join(" + ", chips.Select(c => c.Vendor).Distinct()),
            string.Join("+", chips.Select(c => c.Version)),
            string.Join(" + ", chips.Select(c => c.Source).Distinct()),
            "Intersection of " + string.Join(", ", chips.Select(c => c.Name)) + ": what every one of them can run.",
            numerics, ops, chipRules, cost);
    }

    /// <summary>Folds rules with the same merge key into one where the kind knows how; keeps the rest.</summary>
    private static ImmutableArray<Constraint> Merge(IEnumerable<Constraint> constraints)
    {
        var result = new List<Constraint>();
        foreach (var c in constraints)
        {
            var i = result.FindIndex(r => r.MergeKey == c.MergeKey);
            if (i >= 0 && result[i].Intersect(c) is { } merged)
            {
                result[i] = merged with { ExceptOps = [.. result[i].ExceptOps.Intersect(c.ExceptOps)] };
                continue;
            }
            var id = c.Id;
            for (var n = 2; result.Any(r => r.Id == id); n++) id = $"{c.Id}#{n}";
            result.Add(c with { Id = id });
        }
        return [.. result];
    }
}
