/// Where a dotted field path (`triage.team`) leads in a type: a route's `on`, a vote's field, an item's fields in a
/// template. The three checks walk it alike and differ only in what they say.
enum FieldPathEnd {
    /// The field's type; `any` once a step is not known (an `any`, an open object that lists no fields).
    case found(ExpressionType)
    /// Step `index` names a field that the object `object`, listing `fields`, does not have.
    case unknownField(index: Int, object: ExpressionType, fields: [String])
    /// Step `index` reads a field of `type`, which is not an object.
    case notObject(index: Int, type: ExpressionType)
}

extension ExpressionType {
    /// Follows `segments` from this type. With `listsAreOpaque`, a list ends the walk as `any` (Mustache reads a list's
    /// items by position, which the types do not follow) instead of being a step that is not an object.
    func follow(_ segments: [String], listsAreOpaque: Bool = false) -> FieldPathEnd {
        var type = self
        for (index, segment) in segments.enumerated() {
            switch type.unwrapped {
            case .any:
                return .found(.any)
            case .list where listsAreOpaque:
                return .found(.any)
            case .object(let fields, let open):
                if let field = fields[segment] {
                    type = field
                } else if fields.isEmpty && open {
                    return .found(.any)
                } else {
                    return .unknownField(index: index, object: type.unwrapped, fields: fields.keys.sorted())
                }
            default:
                return .notObject(index: index, type: type.unwrapped)
            }
        }
        return .found(type)
    }
}
