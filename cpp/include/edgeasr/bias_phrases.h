// Biasing phrases from text: a whole contact list tokenized in one native call (a Python call per phrase took
// about as long as building the graph; lists of 1,000 names are built per user, sherpa-onnx builds its hotwords per
// stream).
#pragma once

#include <string>
#include <vector>

#include "edgeasr/bpe_encoder.h"
#include "edgeasr/context_graph.h"

namespace edgeasr {

// texts[i] (already normalized: stripped and lowercased) tokenized by bpe, with weights[i]. Throws
// std::invalid_argument "context[i]: ..." for a phrase without tokens or one the tokens cannot spell (it would map
// to "<unk>", which the model emits for any unknown character, so the bonus would reward noise), and when the sizes
// differ.
std::vector<BiasPhrase> EncodeBiasPhrases(const BpeEncoder& bpe, const std::vector<std::string>& texts,
                                          const std::vector<float>& weights);

}  // namespace edgeasr
