// One-line summaries of JSONDecoder failures for the header errors of both formats: where in the
// JSON the problem is ("w.shape[0]") and what it is, without DecodingError's multi-line dump.
import Foundation

/// A coding key for JSON objects whose keys are data (tensor names, metadata keys).
struct AnyCodingKey: CodingKey {
    let stringValue: String
    let intValue: Int?

    init(stringValue: String) {
        self.stringValue = stringValue
        self.intValue = nil
    }

    init(intValue: Int) {
        self.stringValue = String(intValue)
        self.intValue = intValue
    }
}

func summarizeDecodingFailure(_ error: any Error) -> String {
    guard let error = error as? DecodingError else { return String(describing: error) }
    switch error {
    case .typeMismatch(let type, let context):
        return "\(location(context.codingPath)): expected \(type)"
    case .valueNotFound(let type, let context):
        return "\(location(context.codingPath)): missing \(type) value"
    case .keyNotFound(let key, let context):
        return "\(location(context.codingPath)): missing key '\(key.stringValue)'"
    case .dataCorrupted(let context):
        let detail = (context.underlyingError as NSError?)?.userInfo[NSDebugDescriptionErrorKey] as? String
        let what = detail ?? context.debugDescription
        let line = what.split(separator: "\n").first.map(String.init) ?? what
        return context.codingPath.isEmpty ? line : "\(location(context.codingPath)): \(line)"
    @unknown default:
        return String(describing: error)
    }
}

private func location(_ path: [any CodingKey]) -> String {
    if path.isEmpty { return "top level" }
    var text = ""
    for key in path {
        if let index = key.intValue {
            text += "[\(index)]"
        } else {
            text += text.isEmpty ? key.stringValue : ".\(key.stringValue)"
        }
    }
    return text
}
