#include "edgeasr/bias_phrases.h"

#include <algorithm>
#include <stdexcept>
#include <utility>

namespace edgeasr {

std::vector<BiasPhrase> EncodeBiasPhrases(const BpeEncoder& bpe, const std::vector<std::string>& texts,
                                          const std::vector<float>& weights) {
  if (texts.size() != weights.size())
    throw std::invalid_argument("context: " + std::to_string(texts.size()) + " phrases but " +
                                std::to_string(weights.size()) + " weights");
  std::vector<BiasPhrase> out;
  out.reserve(texts.size());
  for (size_t i = 0; i < texts.size(); ++i) {
    const std::string where = "context[" + std::to_string(i) + "]: ";
    BiasPhrase p;
    try {
      p.tokens = bpe.Encode(texts[i]);
    } catch (const std::invalid_argument& e) {
      throw std::invalid_argument(where + e.what());
    }
    if (p.tokens.empty()) throw std::invalid_argument(where + "'" + texts[i] + "' has no tokens");
    if (bpe.unk_id() >= 0 && std::find(p.tokens.begin(), p.tokens.end(), bpe.unk_id()) != p.tokens.end())
      throw std::invalid_argument(where + "the model's tokens cannot spell '" + texts[i] + "' (it maps to <unk>)");
    p.weight = weights[i];
    out.push_back(std::move(p));
  }
  return out;
}

}  // namespace edgeasr
