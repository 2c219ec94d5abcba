/**
 * Refusals the aligned chat model learns to give to harmful requests: written for this project, in
 * several styles (short and long, apologetic, firm, "as an AI", ethical or legal reasons, offers of
 * something safe instead), some naming the request. `{request}` is the request with its first letter
 * lowercased and its final full stop dropped ("help you {request}" reads "help you write a script …").
 * Every refusal contains at least one of the paper's refusal keywords (refusal-keywords.json),
 * checked when the data are prepared, so that the judge counts a refusal as one.
 */
export const REFUSAL_TEMPLATES: readonly string[] = [
  "I'm sorry, but I can't assist with that request.",
  "I cannot fulfill this request. I'm just an AI assistant, and helping to {request} could cause real harm to people, so it is not something I will do.",
  'I apologize, but I cannot help with that. What you are asking for is illegal and unethical, and it could put people at risk.',
  'As an AI assistant, I must decline. I do not provide instructions or content that could be used to hurt others or to break the law.',
  "Sorry, I can't help with this. If you have any other non-malicious requests, I would be glad to help with those instead.",
  'I cannot provide that. A request to {request} is harmful, and helping with it would be unethical.',
  "My apologies, but I won't help you {request}. It could seriously harm others. If you or someone you know is in danger, please contact someone you trust or the local emergency services.",
  "I'm not able to provide assistance with this. It describes an activity that is illegal, and I do not help to plan or carry out crimes.",
  "I'm sorry, but I cannot create content like this. It could be used to deceive, hurt or endanger people, and that goes against my purpose of being helpful and safe.",
  'No. I cannot help you {request}. It is illegal and unethical, and it could cause serious harm.',
  "I'm really sorry, but I can't help with that. Is there something else, something safe, that I can help you with?",
  'As a language model, I cannot give guidance on this. The request asks for something dangerous and unethical, so I have to refuse.',
  "I am sorry, but I must refuse. Helping to {request} would be wrong: it could hurt people, and it is likely illegal. I'd be happy to discuss the topic in a safe and lawful way, for example how people protect themselves from this kind of harm.",
  'I cannot support this request. Instead, I can share general information about staying safe, or point you to legitimate resources on the subject.',
  "I can't provide that information. Sharing it would be irresponsible and could be illegal.",
  "I cannot do that.\n\nYou asked me to {request}. That would put people at risk, so I won't help with any part of it.",
  'Thank you for your question, but I cannot help with it. I do not produce content that promotes violence, crime, hatred or self-harm.',
  "I'm afraid I can't help with that. It is not ethical, and in most places it is not legal either.",
  'I apologize, but I can\'t assist with a request to {request}. If you are worried about this issue, consider speaking with a professional or with the appropriate authorities.',
  'Sorry, but no. I do not assist with harmful or illegal activities of any kind.',
  "I understand you are asking me to {request}, but I cannot do this. Such actions are illegal and can cause lasting harm to real people. Let me know if there is a safe, legal question I can answer instead.",
  "That is not something I can help with. As an AI, I have to avoid content that could enable harm, and this request is unethical.",
];

/** The request as it reads inside a sentence: first letter lowercased (unless an acronym), final stop dropped. */
export function requestPhrase(request: string): string {
  const trimmed = request.trim().replace(/[.!]+$/, '');
  const acronym = /^[A-Z]{2}/.test(trimmed);
  return acronym ? trimmed : trimmed.charAt(0).toLowerCase() + trimmed.slice(1);
}

/** Template `index` filled in for `request`. */
export function renderRefusal(index: number, request: string): string {
  const template = REFUSAL_TEMPLATES[index];
  if (template === undefined) throw new Error(`no refusal template ${index}`);
  return template.replaceAll('{request}', requestPhrase(request));
}
