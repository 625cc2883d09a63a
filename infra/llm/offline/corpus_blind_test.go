package offline

// blindCorpus are requests written by someone who had not read the
// model's code: the honest measure of how it meets new phrasings.
var blindCorpus = []corpusCase{}
